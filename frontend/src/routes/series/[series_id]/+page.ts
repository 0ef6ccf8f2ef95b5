// Series pages exist for ids only known at run time: served by the SPA fallback.
export const prerender = false;
