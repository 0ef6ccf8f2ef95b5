// Loaders that may overlap (a click, a socket event, a poll) must not let an older answer
// overwrite a newer one: each call takes a ticket, and only the newest ticket may apply.

/** A ticket dispenser: `const current = take(); …await…; if (!current()) return;`. */
export function newestOnly(): () => () => boolean {
	let latest = 0;
	return () => {
		const mine = ++latest;
		return () => mine === latest;
	};
}
