// The start form's values and how they become a start request; pure so it is unit-tested.

import type { StartRequest, TestType } from './types';

/** The start form as the user fills it (every input is text until sent). */
export interface StartForm {
	test_type: TestType;
	mesh_type: string;
	namespace: string;
	duration: string;
	concurrent_connections: string;
	service_url: string;
	rate: string;
	http2: boolean;
	method: string;
	headers: string;
	body: string;
	warmup: string;
	repeats: string;
	/** Run the eBPF probe beside the load (the result gains the kernel's figures). */
	ebpf: boolean;
	/** Load generators to split the run over (HTTP; 1 = not split). */
	generators: string;
	/** WebSocket only. */
	message_size: string;
	message_rate: string;
	binary: boolean;
	hold: boolean;
	/** HTTP/2 and gRPC. */
	streams: string;
	/** gRPC only. */
	call: string;
	data: string;
	metadata: string;
	/** ML only. */
	ml_api: 'openai_chat' | 'openai_completions' | 'oip';
	model: string;
	max_tokens: string;
	prompt_tokens: string;
	stream: boolean;
	shape: string;
	datatype: string;
}

/** The form's starting values: the API's defaults, except a short run. */
export function defaultStartForm(): StartForm {
	return {
		test_type: 'http',
		mesh_type: 'baseline',
		namespace: 'default',
		duration: '30',
		concurrent_connections: '50',
		service_url: '',
		rate: '',
		http2: false,
		method: 'GET',
		headers: '',
		body: '',
		warmup: '0',
		repeats: '1',
		ebpf: false,
		generators: '1',
		message_size: '64',
		message_rate: '',
		binary: false,
		hold: false,
		streams: '1',
		call: 'meshbench.echo.v1.Echo/Unary',
		data: '{}',
		metadata: '',
		ml_api: 'openai_chat',
		model: 'mock',
		max_tokens: '64',
		prompt_tokens: '32',
		stream: true,
		shape: '1,16',
		datatype: 'FP32'
	};
}

/** The most load generators a run can be split over (the server's limit). */
export const MAX_GENERATORS = 64;

/**
 * What is wrong with splitting a run over `generators` load generators, in the server's words
 * (null when nothing is): 1 to 64, and above 1 only for HTTP without the eBPF probe and with at
 * least one connection per generator. `connections` is null when the form's own is not a number.
 */
export function generatorsError(generators: number, testType: TestType, connections: number | null, ebpf: boolean): string | null {
	if (generators < 1 || generators > MAX_GENERATORS) return `must be between 1 and ${MAX_GENERATORS}`;
	if (generators === 1) return null;
	const wrong: string[] = [];
	if (testType !== 'http') wrong.push('only http runs can be split over generators yet');
	if (ebpf) wrong.push('a run with ebpf cannot be split: the probe watches one host');
	if (connections !== null && generators > connections) wrong.push('must not exceed concurrent_connections: each generator needs a connection');
	return wrong.length ? wrong.join('; ') : null;
}

/** A start request, or the fields the form itself can tell are wrong. */
export type Built = { ok: true; request: Partial<StartRequest> } | { ok: false; errors: Record<string, string> };

/** "Name: value" lines as a map, or the message for the first line without a colon. */
function pairs(text: string, what: string, lowerKeys: boolean): Record<string, string> | string {
	const out: Record<string, string> = {};
	const lines = text
		.split('\n')
		.map((l) => l.trim())
		.filter((l) => l !== '');
	for (const [i, line] of lines.entries()) {
		const colon = line.indexOf(':');
		if (colon <= 0) return `line ${i + 1}: write ${what}`;
		const key = line.slice(0, colon).trim();
		out[lowerKeys ? key.toLowerCase() : key] = line.slice(colon + 1).trim();
	}
	return out;
}

function wholeNumber(text: string): number | null {
	const t = text.trim();
	return /^\d+$/.test(t) ? Number(t) : null;
}

/**
 * Turns the form into a start request. Mostly what the form alone can know is checked here
 * (a number that is not a number, a header line without a colon), and the generators' rules
 * (they depend on other fields); every other rule about ranges is the API's, and its 422
 * answer is shown beside the field it names.
 */
export function buildStartRequest(form: StartForm): Built {
	const errors: Record<string, string> = {};
	const request: Partial<StartRequest> = {
		test_type: form.test_type,
		mesh_type: form.mesh_type.trim(),
		namespace: form.namespace.trim()
	};
	for (const field of ['duration', 'concurrent_connections', 'warmup', 'repeats'] as const) {
		const n = wholeNumber(form[field]);
		if (n === null) errors[field] = 'must be a whole number';
		else (request as Record<string, unknown>)[field] = n;
	}
	if (form.rate.trim() !== '') {
		const r = Number(form.rate.trim());
		if (!Number.isFinite(r)) errors.rate = 'must be a number of requests per second';
		else request.rate = r;
	}
	if (form.service_url.trim() !== '') request.service_url = form.service_url.trim();
	if (form.ebpf) request.ebpf = true;
	const generators = wholeNumber(form.generators);
	if (generators === null) errors.generators = 'must be a whole number';
	else {
		const wrong = generatorsError(generators, form.test_type, request.concurrent_connections ?? null, form.ebpf);
		if (wrong) errors.generators = wrong;
		else if (generators > 1) request.generators = generators;
	}
	if (form.test_type === 'websocket') {
		// Messages, not HTTP requests: the HTTP options do not apply.
		const size = wholeNumber(form.message_size);
		if (size === null) errors.message_size = 'must be a whole number of bytes';
		else request.message_size = size;
		if (form.message_rate.trim() !== '') {
			const r = Number(form.message_rate.trim());
			if (!Number.isFinite(r)) errors.message_rate = 'must be a number of messages per second';
			else request.message_rate = r;
		}
		if (form.binary) request.binary = true;
		if (form.hold) request.hold = true;
		return Object.keys(errors).length ? { ok: false, errors } : { ok: true, request };
	}
	if (form.test_type === 'ml') {
		request.ml_api = form.ml_api;
		if (form.model.trim()) request.model = form.model.trim();
		if (form.ml_api === 'oip') {
			const dims = form.shape.split(',').map((d) => wholeNumber(d));
			if (dims.some((d) => d === null) || dims.length === 0) errors.shape = 'write the shape as 1,3,224,224';
			else request.shape = dims as number[];
			if (form.datatype.trim()) request.datatype = form.datatype.trim().toUpperCase();
		} else {
			for (const field of ['max_tokens', 'prompt_tokens'] as const) {
				const n = wholeNumber(form[field]);
				if (n === null) errors[field] = 'must be a whole number';
				else request[field] = n;
			}
			if (!form.stream) request.stream = false;
		}
		return Object.keys(errors).length ? { ok: false, errors } : { ok: true, request };
	}
	if (form.test_type === 'grpc') {
		if (form.call.trim()) request.call = form.call.trim();
		const streams = wholeNumber(form.streams);
		if (streams === null) errors.streams = 'must be a whole number';
		else if (streams !== 1) request.streams = streams;
		try {
			const parsed = JSON.parse(form.data.trim() || '{}');
			request.data = Array.isArray(parsed) ? parsed : [parsed];
		} catch {
			errors.data = 'must be a JSON object, or a list of them';
		}
		const metadata = pairs(form.metadata, 'metadata as "key: value"', true);
		if (typeof metadata === 'string') errors.metadata = metadata;
		else if (Object.keys(metadata).length) request.metadata = metadata;
		return Object.keys(errors).length ? { ok: false, errors } : { ok: true, request };
	}
	if (form.http2) {
		request.http2 = true;
		const streams = wholeNumber(form.streams);
		if (streams === null) errors.streams = 'must be a whole number';
		else if (streams !== 1) request.streams = streams;
	}
	if (form.method.trim() !== '') request.method = form.method.trim().toUpperCase();
	const headers = pairs(form.headers, 'headers as "Name: value"', false);
	if (typeof headers === 'string') errors.headers = headers;
	else if (Object.keys(headers).length) request.headers = headers;
	if (form.body !== '') request.body = form.body;
	return Object.keys(errors).length ? { ok: false, errors } : { ok: true, request };
}

/** Maps API field names (`headers.X-Foo`, `body`) to the form input showing them. */
export function formFieldOf(apiField: string): string {
	const head = apiField.split(/[.[]/)[0];
	return head || apiField;
}
