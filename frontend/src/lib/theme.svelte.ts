// Light and dark theme: the user's choice is kept in localStorage; charts read `theme.dark`
// to pick their colours and redraw when it changes.

const KEY = 'meshbench-theme';

class Theme {
	dark = $state(false);

	/** Reads the theme app.html applied before the first paint. */
	init(): void {
		this.dark = document.documentElement.classList.contains('dark');
	}

	/** Switches between light and dark and remembers the choice. */
	toggle(): void {
		this.dark = !this.dark;
		document.documentElement.classList.toggle('dark', this.dark);
		try {
			localStorage.setItem(KEY, this.dark ? 'dark' : 'light');
		} catch {
			// Private mode: the choice lasts for this page only.
		}
	}
}

/** The page's theme. */
export const theme = new Theme();
