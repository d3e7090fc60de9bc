// The view and its settings live in the URL's fragment, readable and shareable:
// #/chart?scope=D01&asOf=2026-06-30, #/place/D01S01K01, #/search?q=东山. A link sent to a
// colleague opens the same view, for the same day and scope.

export function current() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = hash.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { view: parts[0] || "dashboard", id: parts[1] || null, params: new URLSearchParams(query) };
}

// The settings every view obeys: carried over from the current URL into each link.
const KEPT = ["asOf", "scope"];

export function href(view, id = null, params = {}) {
  const now = current().params;
  const query = new URLSearchParams();
  for (const key of KEPT) if (now.get(key)) query.set(key, now.get(key));
  for (const [key, value] of Object.entries(params)) {
    if (value == null || value === "") query.delete(key);
    else query.set(key, value);
  }
  const path = id ? `${view}/${encodeURIComponent(id)}` : view;
  const text = query.toString();
  return `#/${path}${text ? `?${text}` : ""}`;
}

export function go(view, id = null, params = {}) {
  location.hash = href(view, id, params);
}

// The current view again with some of its settings changed (a page of gaps starts over).
export function update(params) {
  const { view, id, params: now } = current();
  go(view, id, { ...Object.fromEntries(now), after: null, ...params });
}
