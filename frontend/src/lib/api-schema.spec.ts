import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import openapiTS, { astToString } from 'openapi-typescript';

// The chain that keeps the client's types honest: the server's own test checks that
// openapi.json is its current document; this one checks that api-schema.d.ts is what
// openapi-typescript makes of it; svelte-check then checks the client against those types.
describe('api-schema.d.ts', () => {
	it('is generated from the server’s current OpenAPI document (npm run gen:api)', async () => {
		const doc = JSON.parse(readFileSync(new URL('./openapi.json', import.meta.url), 'utf8'));
		const generated = astToString(await openapiTS(doc));
		const committed = readFileSync(new URL('./api-schema.d.ts', import.meta.url), 'utf8');
		const body = (s: string) => s.slice(s.indexOf('export'));
		expect(body(committed), 'run `npm run gen:api` in frontend/ and commit the result').toBe(body(generated));
	});
});
