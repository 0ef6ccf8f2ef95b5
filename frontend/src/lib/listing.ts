// Reads list-shaped answers whose exact shape belongs to the server: a bare array, or an
// object holding one (`{"items": [...]}`, `{"namespaces": [...]}`).

/** The rows of a list-shaped answer (strings become `{ name }`). */
export function rowsOf(data: unknown): Record<string, unknown>[] {
	let list: unknown = data;
	if (list && typeof list === 'object' && !Array.isArray(list)) {
		const arrays = Object.values(list as Record<string, unknown>).filter(Array.isArray);
		list = arrays.length ? arrays[0] : [list];
	}
	if (!Array.isArray(list)) return [];
	return list.map((item) =>
		item && typeof item === 'object' ? (item as Record<string, unknown>) : { name: item }
	);
}
