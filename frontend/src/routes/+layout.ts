// Every page is rendered in the browser (data comes from the API at run time) and
// prerendered as a shell, so the server can hand out plain files.
export const prerender = true;
export const ssr = false;
