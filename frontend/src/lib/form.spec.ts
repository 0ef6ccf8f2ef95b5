import { describe, expect, it } from 'vitest';
import { buildStartRequest, defaultStartForm, formFieldOf } from './form';

describe('buildStartRequest', () => {
	it('sends the form as the API names it', () => {
		const form = { ...defaultStartForm(), rate: '1000', headers: 'X-Test: 1\nAccept: */*', http2: true, method: 'post', body: '{}' };
		const built = buildStartRequest(form);
		expect(built.ok).toBe(true);
		if (!built.ok) return;
		expect(built.request).toEqual({
			test_type: 'http',
			mesh_type: 'baseline',
			namespace: 'default',
			duration: 30,
			concurrent_connections: 50,
			warmup: 0,
			repeats: 1,
			rate: 1000,
			http2: true,
			method: 'POST',
			headers: { 'X-Test': '1', Accept: '*/*' },
			body: '{}'
		});
	});
	it('leaves out what the user left empty (closed model, built-in target)', () => {
		const built = buildStartRequest(defaultStartForm());
		expect(built.ok && 'rate' in built.request).toBe(false);
		expect(built.ok && 'service_url' in built.request).toBe(false);
	});
	it('names fields that are not numbers or not headers', () => {
		const built = buildStartRequest({ ...defaultStartForm(), duration: 'ten', headers: 'nocolon' });
		expect(built).toEqual({
			ok: false,
			errors: { duration: 'must be a whole number', headers: 'line 1: write headers as "Name: value"' }
		});
	});
	it('leaves range rules to the API (a negative-looking duration is not a whole number here)', () => {
		const built = buildStartRequest({ ...defaultStartForm(), duration: '999999' });
		expect(built.ok).toBe(true);
	});
});

describe('websocket requests', () => {
	it('send the message options and leave the HTTP ones out', () => {
		const built = buildStartRequest({
			...defaultStartForm(),
			test_type: 'websocket',
			message_size: '1024',
			message_rate: '10',
			binary: true,
			http2: true,
			headers: 'X: 1'
		});
		expect(built).toEqual({
			ok: true,
			request: {
				test_type: 'websocket',
				mesh_type: 'baseline',
				namespace: 'default',
				duration: 30,
				concurrent_connections: 50,
				warmup: 0,
				repeats: 1,
				message_size: 1024,
				message_rate: 10,
				binary: true
			}
		});
	});
	it('name a message size that is not a number', () => {
		const built = buildStartRequest({ ...defaultStartForm(), test_type: 'websocket', message_size: 'big' });
		expect(built).toEqual({ ok: false, errors: { message_size: 'must be a whole number of bytes' } });
	});
});

describe('grpc requests', () => {
	it('send the method, messages, metadata and streams', () => {
		const built = buildStartRequest({
			...defaultStartForm(),
			test_type: 'grpc',
			call: 'meshbench.echo.v1.Echo/Bidi',
			data: '[{"message":"a"},{"message":"b"}]',
			metadata: 'X-Team: core',
			streams: '8'
		});
		expect(built.ok && built.request).toMatchObject({
			test_type: 'grpc',
			call: 'meshbench.echo.v1.Echo/Bidi',
			data: [{ message: 'a' }, { message: 'b' }],
			metadata: { 'x-team': 'core' },
			streams: 8
		});
		expect(built.ok && 'method' in built.request).toBe(false);
	});
	it('name data that is not JSON', () => {
		const built = buildStartRequest({ ...defaultStartForm(), test_type: 'grpc', data: '{oops' });
		expect(built).toEqual({ ok: false, errors: { data: 'must be a JSON object, or a list of them' } });
	});
});

describe('ml requests', () => {
	it('send the API, model and token options (OpenAI) or the tensor (OIP)', () => {
		const chat = buildStartRequest({ ...defaultStartForm(), test_type: 'ml', max_tokens: '128', stream: false });
		expect(chat.ok && chat.request).toMatchObject({ test_type: 'ml', ml_api: 'openai_chat', model: 'mock', max_tokens: 128, prompt_tokens: 32, stream: false });
		const oip = buildStartRequest({ ...defaultStartForm(), test_type: 'ml', ml_api: 'oip', shape: '1,3,8,8', datatype: 'fp16' });
		expect(oip.ok && oip.request).toMatchObject({ ml_api: 'oip', shape: [1, 3, 8, 8], datatype: 'FP16' });
		expect(oip.ok && 'max_tokens' in oip.request).toBe(false);
		const bad = buildStartRequest({ ...defaultStartForm(), test_type: 'ml', ml_api: 'oip', shape: '1,x' });
		expect(bad).toEqual({ ok: false, errors: { shape: 'write the shape as 1,3,224,224' } });
	});
});

describe('formFieldOf', () => {
	it('maps nested API field names to the input', () => {
		expect(formFieldOf('headers.X-Foo')).toBe('headers');
		expect(formFieldOf('duration')).toBe('duration');
		expect(formFieldOf('job_ids[2]')).toBe('job_ids');
	});
});

describe('the eBPF probe', () => {
	it('is asked for only when ticked, for every test type', () => {
		const plain = buildStartRequest(defaultStartForm());
		expect(plain.ok && 'ebpf' in plain.request).toBe(false);
		for (const test_type of ['http', 'grpc', 'websocket', 'ml'] as const) {
			const built = buildStartRequest({ ...defaultStartForm(), test_type, ebpf: true });
			expect(built.ok && built.request.ebpf, test_type).toBe(true);
		}
	});
});
