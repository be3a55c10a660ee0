// The one script a page loads: it imports the page's module (named by <body data-page>) and
// starts it. Importing a module registers nothing; start() does.
const PAGES = {
  text: () => import("./pages/text.js"),
  ink: () => import("./pages/ink.js"),
  embed: () => import("./pages/embed.js"),
};

// what the tests and the benchmark read: the last answers and how many times the views were drawn
window.lens = { last: {}, rendered: 0, strips: null, pad: null };

// what a pointer can do here: a touch screen has no hover, drag-zoom or double-click (the CSS shows
// each its own instructions)
import("./lib/page.js").then(({ touchDevice }) => document.body.classList.toggle("touch", touchDevice()));

// a link to this page opened in the same tab changes only the fragment, which does not load the page
// again: load it, so that it opens on the link as it would in a new tab (the pages' own link updates use
// history.replaceState, which fires no hashchange)
addEventListener("hashchange", () => location.reload());

const load = PAGES[document.body.dataset.page];
if (load) load().then((page) => page.start());
