import { describe, expect, it } from 'vitest';
import { buildStartRequest, defaultStartForm, formFieldOf, generatorsError } from './form';

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

describe('generators', () => {
	it('are sent only when the run is split', () => {
		const plain = buildStartRequest(defaultStartForm());
		expect(plain.ok && 'generators' in plain.request).toBe(false);
		const split = buildStartRequest({ ...defaultStartForm(), generators: '4' });
		expect(split.ok && split.request.generators).toBe(4);
		const edge = buildStartRequest({ ...defaultStartForm(), generators: '64', concurrent_connections: '64' });
		expect(edge.ok && edge.request.generators).toBe(64);
	});
	it('follow the server’s rules, in its words', () => {
		const errorOf = (over: Partial<ReturnType<typeof defaultStartForm>>) => {
			const built = buildStartRequest({ ...defaultStartForm(), ...over });
			return built.ok ? null : built.errors.generators;
		};
		expect(errorOf({ generators: 'two' })).toBe('must be a whole number');
		expect(errorOf({ generators: '' })).toBe('must be a whole number');
		expect(errorOf({ generators: '0' })).toBe('must be between 1 and 64');
		expect(errorOf({ generators: '65', concurrent_connections: '100' })).toBe('must be between 1 and 64');
		expect(errorOf({ generators: '2', test_type: 'websocket' })).toBe('only http runs can be split over generators yet');
		expect(errorOf({ generators: '2', test_type: 'grpc' })).toBe('only http runs can be split over generators yet');
		expect(errorOf({ generators: '4', concurrent_connections: '2' })).toBe('must not exceed concurrent_connections: each generator needs a connection');
		expect(errorOf({ generators: '2', ebpf: true })).toBe('a run with ebpf cannot be split: the probe watches one host');
		expect(errorOf({ generators: '8', test_type: 'ml', concurrent_connections: '4' })).toBe(
			'only http runs can be split over generators yet; must not exceed concurrent_connections: each generator needs a connection'
		);
		// One generator is no split: nothing to check beyond the number.
		expect(errorOf({ generators: '1', test_type: 'websocket', concurrent_connections: '1', ebpf: true })).toBeNull();
		// A connections figure that is not a number is named there, not held against generators.
		const built = buildStartRequest({ ...defaultStartForm(), generators: '4', concurrent_connections: 'many' });
		expect(built).toEqual({ ok: false, errors: { concurrent_connections: 'must be a whole number' } });
	});
	it('mirror generatorsError for every test type', () => {
		expect(generatorsError(1, 'grpc', 1, true)).toBeNull();
		expect(generatorsError(3, 'http', 3, false)).toBeNull();
		expect(generatorsError(3, 'http', null, false)).toBeNull();
	});
});
