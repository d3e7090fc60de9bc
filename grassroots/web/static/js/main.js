// The page's frame: the header (views, scope, day, search, print) and the view the URL
// names. Every view reads the API for the scope and day in the URL, and only those.

import { forgetToken, gql, token } from "./api.js";
import { h, failure, loading } from "./dom.js";
import { AREA_KIND } from "./labels.js";
import { current, go, href, update } from "./router.js";
import * as chart from "./chart.js";
import * as dashboard from "./dashboard.js";
import * as place from "./place.js";
import * as unit from "./unit.js";
import * as person from "./person.js";
import * as search from "./search.js";

const VIEWS = { chart, dashboard, place, unit, person, search };

// The areas a scope can be: the top two levels the caller's token sees (a city's
// account: the city and its districts; a district's: the district and its subdistricts).
const SCOPES = `{
  c: areas(kind: CITY, first: 20) { edges { node { id name kind } } }
  d: areas(kind: DISTRICT, first: 200) { edges { node { id name kind } } }
  s: areas(kind: SUBDISTRICT, first: 200) { edges { node { id name kind } } }
  t: areas(kind: TOWNSHIP, first: 200) { edges { node { id name kind } } }
  k: areas(kind: COMMUNITY, first: 200) { edges { node { id name kind } } }
  v: areas(kind: VILLAGE, first: 200) { edges { node { id name kind } } }
}`;

let scopes = null;

async function loadScopes() {
  const data = await gql(SCOPES);
  const tiers = [[data.c, data.d], [data.s, data.t], [data.k, data.v]].map((tier) =>
    tier.flatMap((conn) => conn.edges.map((e) => e.node)),
  );
  const top = tiers.findIndex((tier) => tier.length);
  if (top < 0) return [];
  return [...tiers[top], ...(tiers[top + 1] || [])].filter(
    (area, i, all) => all.findIndex((a) => a.id === area.id) === i,
  );
}

function header(route) {
  const { params } = route;
  const scope = document.getElementById("scope");
  const chosen = params.get("scope") || (scopes[0] && scopes[0].id) || "";
  scope.replaceChildren(
    ...scopes.map((area) =>
      h("option", { value: area.id, selected: area.id === chosen }, `${area.name}（${AREA_KIND[area.kind]}）`),
    ),
  );
  scope.onchange = () => update({ scope: scope.value, root: null, focus: null });
  const day = document.getElementById("asof");
  // no day in the address is today: the box shows it (the address keeps none, so a link
  // sent on opens on its own today)
  day.value = params.get("asOf") || new Date().toLocaleDateString("sv");
  day.onchange = () => update({ asOf: day.value });
  for (const link of document.querySelectorAll("nav a[data-view]")) {
    link.classList.toggle("active", link.dataset.view === route.view);
    link.href = href(link.dataset.view);
  }
  document.getElementById("logout").hidden = !token();
  return { scope: chosen, asOf: params.get("asOf") || null, scopes };
}

async function show() {
  const route = current();
  const target = document.getElementById("view");
  try {
    if (scopes === null) {
      loading(target);
      scopes = await loadScopes();
    }
    const context = header(route);
    const view = VIEWS[route.view];
    if (!view) {
      go("dashboard");
      return;
    }
    document.body.dataset.view = route.view;
    document.body.dataset.ready = "";
    await view.render(target, route, context);
    document.body.dataset.ready = route.view; // the browser tests wait for these marks
    document.body.dataset.rendered = String(Number(document.body.dataset.rendered || 0) + 1);
  } catch (error) {
    failure(target, error);
    document.body.dataset.ready = "error";
    document.body.dataset.rendered = String(Number(document.body.dataset.rendered || 0) + 1);
  }
}

document.getElementById("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = document.getElementById("search").value.trim();
  if (text) go("search", null, { q: text });
});
document.getElementById("print").addEventListener("click", () => window.print());
document.getElementById("logout").addEventListener("click", () => {
  forgetToken();
  scopes = null;
  show();
});
window.addEventListener("hashchange", show);
show();
