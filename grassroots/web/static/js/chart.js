// The org chart: the party-org tree from any root, expanded level by level through
// orgChart(rootId, depth), top-down, panned and zoomed; each org with its form,
// secretary and member count, and a mark for every rule that fails on it or on its area
// (red: 必须, amber: 应当), and how many fail below it. A click opens the org's panel:
// its marks with their clauses, and on demand its cross-links (pairings, dispatched
// cadres, big-committee members).

import { init } from "../vendor/echarts.js";
import { gql } from "./api.js";
import { chinese, empty, failure, fill, h, loading, section, table } from "./dom.js";
import { DISPATCH_ROLE, POST_KIND, PROJECT_STATUS, SEVERITY, orgForm } from "./labels.js";
import { href, update } from "./router.js";

const CHART = `query($root: ID!, $depth: Int!, $asOf: Date) {
  orgChart(rootId: $root, depth: $depth, asOf: $asOf) {
    id parentId name form depth childCount memberCount areaId secretary { id name } } }`;

// The marks: each rule's gaps in the scope, with the ids along their paths (the first
// GAPS_PER_RULE of each rule; the panel says when there are more).
const GAPS_PER_RULE = 100;
const MAX_DEPTH = 3; // levels in one orgChart request (deeper ones open by a click)
const MARKS = `query($scope: ID, $asOf: Date) { coverage(scope: $scope, asOf: $asOf) {
  rules { id titleZh severity focus source { document clause quote }
    gaps(first: ${GAPS_PER_RULE}) { totalCount edges { node { id name path message trail } } } } } }`;

const ROOT = `query($scope: ID!) { area(id: $scope) { id name partyOrgs { id form category } } }`;

const LINKS = `query($id: ID!, $asOf: Date) { partyOrg(id: $id) {
  id name area { id name kind dispatches(asOf: $asOf) { role person { id name } unit { id name } } }
  pairings(asOf: $asOf) { id since unit { id name } responsible { id name }
                          projects { name status } }
  posts(asOf: $asOf) { post concurrent person { id name employments(asOf: $asOf) { unit { id name } position } } } } }`;

const CHAIN = `query($id: ID!) { responsibleChain(id: $id) { id } }`;

let state = null; // this chart: its nodes by id, its marks, its ECharts instance

function legend(rules) {
  const failing = rules.filter((r) => r.gaps.totalCount);
  return h("span", { class: "legend" },
    h("span", {}, h("span", { class: "dot", style: `background:${COLOURS.MUST}` }), "必须类规则不达标"),
    h("span", {}, h("span", { class: "dot", style: `background:${COLOURS.SHOULD}` }), "应当类规则不达标"),
    h("span", {}, `${failing.length} 条规则有缺口`),
    h("span", { class: "no-print" }, "点击党组织展开下级、查看详情；滚轮缩放，拖动平移"),
  );
}

export async function render(target, route, { scope, asOf }) {
  if (!scope) {
    fill(target, empty("库中还没有区域：请先导入台账（grassroots import 路径）。"));
    return;
  }
  loading(target, "正在读取组织架构…");
  const root = route.params.get("root") || (await rootOf(scope));
  if (!root) {
    fill(target, empty("这个范围的区域上还没有建立党组织。"));
    return;
  }
  const depth = Math.min(MAX_DEPTH, Math.max(1, Number(route.params.get("depth")) || 2));
  // the chart is drawn as soon as its orgs are in; the marks (a whole coverage report
  // of the scope, seconds at a city's scale) are drawn on it when they come
  const marking = gql(MARKS, { scope, asOf });
  marking.catch(() => {}); // its failure is shown below, once the chart is up
  const chart = await gql(CHART, { root, depth, asOf });
  state = { nodes: new Map(), open: new Set(), asOf, scope, root, marks: indexMarks([]) };
  add(chart.orgChart);
  const rootNode = state.nodes.get(chart.orgChart[0].id);
  state.open.add(rootNode.id);
  for (const node of state.nodes.values()) if (node.depth < depth && node.loaded) state.open.add(node.id);

  const canvas = h("div", { class: "org-chart", id: "org-chart" });
  const panel = h("aside", { class: "panel", id: "org-panel" }, h("p", { class: "empty no-print" }, "点击一个党组织，查看它的缺口和结对、选派情况。"));
  const key = h("span", { class: "legend" }, "正在检查覆盖规则…");
  fill(target, 
    h("div", { class: "page-title" },
      h("h1", {}, `组织架构：${rootNode.name}`),
      h("span", { class: "as-of" }, asOf ? `截至 ${asOf}` : "截至今日"),
      h("label", { class: "no-print" }, "展开层级 ",
        h("select", { id: "depth", onchange: (e) => update({ depth: e.target.value }) },
          [1, 2, 3].map((n) => h("option", { value: n, selected: n === depth }, String(n))))),
      key,
    ),
    h("div", { class: "chart-layout" }, canvas, panel),
  );
  new ResizeObserver(() => state.chart && state.chart.resize()).observe(canvas);
  draw();
  try {
    const rules = (await marking).coverage.rules;
    state.marks = indexMarks(rules);
    key.replaceWith(legend(rules));
    draw();
    canvas.dataset.marked = "true";
  } catch (error) {
    failure(key, error);
  }
  const focus = route.params.get("focus");
  if (focus) await reveal(focus);
}

async function rootOf(scope) {
  const { area } = await gql(ROOT, { scope });
  if (!area) return null;
  const orgs = area.partyOrgs.filter((o) => o.category === "TERRITORIAL");
  return (orgs[0] || area.partyOrgs[0] || {}).id || null;
}

function add(rows) {
  for (const row of rows) {
    const known = state.nodes.get(row.id);
    const node = known || { ...row, children: [] };
    Object.assign(node, row, { children: node.children });
    node.loaded = node.loaded || row.childCount === 0;
    state.nodes.set(row.id, node);
    const parent = row.parentId && state.nodes.get(row.parentId);
    if (parent && !parent.children.includes(row.id)) parent.children.push(row.id);
  }
  for (const node of state.nodes.values()) {
    if (node.children.length >= node.childCount) node.loaded = true;
  }
}

// gap id -> on-node marks; trail ids -> marks below them
function indexMarks(rules) {
  const on = new Map();
  const below = new Map();
  const areasBelow = new Map(); // an area -> the gaps of the areas right below it
  const push = (map, key, mark) => {
    if (!map.has(key)) map.set(key, []);
    map.get(key).push(mark);
  };
  for (const rule of rules) {
    for (const { node } of rule.gaps.edges) {
      const mark = { rule, gap: node };
      push(on, node.id, mark);
      for (const id of node.trail.slice(0, -1)) push(below, id, mark);
      if (rule.focus === "Area" && node.trail.length > 1) push(areasBelow, node.trail.at(-2), mark);
    }
  }
  const partial = rules.filter((r) => r.gaps.totalCount > r.gaps.edges.length);
  return { on, below, areasBelow, partial };
}

// An org's marks: the gaps on it or on its area, and those below either (each once).
function marksOf(node) {
  const { on, below } = state.marks;
  const keys = [node.id, node.areaId].filter(Boolean);
  const seen = new Set();
  const once = (marks) =>
    marks.filter((m) => {
      const key = `${m.rule.id}|${m.gap.id}`;
      return !seen.has(key) && seen.add(key);
    });
  const own = once(keys.flatMap((k) => on.get(k) || []));
  const under = once(keys.flatMap((k) => below.get(k) || []));
  return { own, under };
}

const COLOURS = { MUST: "#c0392b", SHOULD: "#d68910", NONE: "#5d6d7e" };

function severityOf(marks) {
  if (marks.some((m) => m.rule.severity === "MUST")) return "MUST";
  return marks.length ? "SHOULD" : "NONE";
}

function label(node) {
  const { own, under } = marksOf(node);
  const lines = [`{name|${node.name}}`];
  const facts = [orgForm(node.form)];
  if (node.secretary) facts.push(`书记 ${node.secretary.name}`);
  if (node.memberCount != null) facts.push(`党员 ${node.memberCount}`);
  lines.push(`{facts|${facts.join(" · ")}}`);
  const counts = [];
  const must = own.filter((m) => m.rule.severity === "MUST").length;
  const should = own.length - must;
  if (must) counts.push(`{MUST|● 必须 ${must}}`);
  if (should) counts.push(`{SHOULD|● 应当 ${should}}`);
  if (under.length) counts.push(`{below|下级缺口 ${under.length}}`);
  if (counts.length) lines.push(counts.join(" "));
  const missing = ghostsOf(node).length;
  if (!state.open.has(node.id) && (node.childCount || missing)) {
    lines.push(`{more|▸ 展开 ${node.childCount} 个下级${missing ? `，${missing} 处未建` : ""}}`);
  }
  return lines.join("\n");
}

// The areas right below an org's area that fail an area rule and have no org among the
// org's children (a grid without a branch): drawn as dashed "ghost" children, so that
// what is missing shows where it is missing.
function ghostsOf(node) {
  if (!node.areaId) return [];
  const taken = new Set(node.children.map((c) => state.nodes.get(c).areaId));
  const byArea = new Map();
  for (const mark of state.marks.areasBelow.get(node.areaId) || []) {
    if (taken.has(mark.gap.id)) continue;
    if (!byArea.has(mark.gap.id)) byArea.set(mark.gap.id, []);
    byArea.get(mark.gap.id).push(mark);
  }
  return [...byArea.values()];
}

function ghost(marks) {
  const { gap } = marks[0];
  const colour = COLOURS[severityOf(marks)];
  return {
    name: gap.name,
    id: `ghost:${gap.id}`,
    ghost: marks,
    symbol: "rect",
    symbolSize: 10,
    itemStyle: { color: "#fff", borderColor: colour, borderType: "dashed", borderWidth: 2 },
    label: {
      borderColor: colour,
      borderType: "dashed",
      formatter: () => [`{ghost|${gap.name}}`, ...marks.map((m) => `{${m.rule.severity}|✕ ${m.rule.titleZh}}`)].join("\n"),
    },
  };
}

const expandable = (node) => node.childCount > 0 || ghostsOf(node).length > 0;

function tree(id) {
  const node = state.nodes.get(id);
  const { own } = marksOf(node);
  const open = state.open.has(id) && node.loaded;
  return {
    name: node.name,
    id: node.id,
    value: node.childCount,
    collapsed: !open,
    label: { formatter: () => label(node) },
    itemStyle: { color: COLOURS[severityOf(own)], borderColor: COLOURS[severityOf(own)] },
    symbolSize: own.length ? 14 : 9,
    children: open
      ? [...node.children.map(tree), ...ghostsOf(node).map(ghost)]
      : expandable(node)
        ? []
        : undefined,
  };
}

function visibleCount(id = state.root) {
  const node = state.nodes.get(id);
  if (!node) return 0;
  return 1 + (state.open.has(id) ? node.children.reduce((n, c) => n + visibleCount(c), 0) : 0);
}

// The chart's width, in the layout's units: ECharts' tree sets leaves of one parent one
// unit apart and those of two parents two; a unit must hold a label (labels keep their
// size when the chart is zoomed, so the layout is made wide enough at full size).
function units(id = state.root) {
  const order = [];
  const walk = (at, parent) => {
    const node = state.nodes.get(at);
    const below = state.open.has(at) ? node.children : [];
    if (!below.length) order.push(parent);
    for (const child of below) walk(child, at);
  };
  walk(id, null);
  return order.reduce((sum, parent, i) => sum + (i === 0 ? 1 : parent === order[i - 1] ? 1 : 2), 0);
}

function depthOf(id) {
  const node = state.nodes.get(id);
  if (!state.open.has(id) || !node.children.length) return 1;
  return 1 + Math.max(...node.children.map(depthOf));
}

// SVG while the chart is small enough to pan smoothly in it (its text is then the
// page's own: searchable, readable aloud); a canvas beyond.
const SVG_UP_TO = 400;
const LABEL_WIDTH = 200; // px: the widest org name with its padding
const LEVEL_HEIGHT = 120; // px from an org to its children

// The chart's ECharts instance, made anew when the number of orgs shown crosses SVG_UP_TO.
function instance(box) {
  const renderer = visibleCount() <= SVG_UP_TO ? "svg" : "canvas";
  if (state.chart && state.renderer === renderer) return state.chart;
  if (state.chart) state.chart.dispose();
  state.renderer = renderer;
  state.chart = init(box, null, { renderer });
  state.chart.on("click", (event) => {
    const panel = document.getElementById("org-panel");
    if (event.data && event.data.ghost) showMissing(panel, event.data.ghost);
    else if (event.data) select(event.data.id);
  });
  return state.chart;
}

function draw() {
  const box = document.getElementById("org-chart");
  const before = state.chart && state.chart.getOption();
  instance(box);
  // the layout at full size (labels keep their size when the chart is zoomed, so a
  // tree squeezed to fit would overlap them), its root at the top in the middle of the
  // box; a redraw keeps where the user panned and zoomed to
  const width = Math.max(units() * LABEL_WIDTH, box.clientWidth - 40);
  const height = Math.max(1, depthOf(state.root) - 1) * LEVEL_HEIGHT;
  const panned = before && before.series && before.series[0].center;
  const view = panned ? { zoom: before.series[0].zoom, center: before.series[0].center } : {};
  state.chart.setOption(
    {
      animation: false,
      textStyle: { fontFamily: getComputedStyle(document.body).fontFamily },
      tooltip: { show: false },
      series: [
        {
          type: "tree",
          ...view,
          data: [tree(state.root)],
          orient: "TB",
          roam: true,
          expandAndCollapse: false,
          left: (box.clientWidth - width) / 2,
          top: 40,
          width,
          height,
          symbol: "circle",
          emphasis: { disabled: true }, // no hover effects: a pan of 2,000 orgs stays smooth
          edgeShape: "polyline",
          lineStyle: { color: "#aab7b8", width: 1 },
          label: {
            position: "bottom",
            distance: 6,
            align: "center",
            verticalAlign: "top",
            backgroundColor: "#fff",
            borderColor: "#d5dbdb",
            borderWidth: 1,
            borderRadius: 4,
            padding: [4, 6],
            lineHeight: 16,
            fontFamily: getComputedStyle(document.body).fontFamily,
            rich: {
              name: { fontWeight: "bold", fontSize: 13, color: "#1b2631" },
              facts: { fontSize: 11, color: "#566573" },
              MUST: { fontSize: 11, color: COLOURS.MUST, fontWeight: "bold" },
              SHOULD: { fontSize: 11, color: COLOURS.SHOULD, fontWeight: "bold" },
              below: { fontSize: 11, color: "#7b241c" },
              more: { fontSize: 11, color: "#2471a3" },
              ghost: { fontWeight: "bold", fontSize: 13, color: "#7b241c" },
            },
          },
        },
      ],
    },
    { notMerge: true },
  );
  box.dataset.visible = String(visibleCount());
  box.dataset.renderer = state.renderer;
}

async function expand(id) {
  const node = state.nodes.get(id);
  if (!node.loaded) {
    const { orgChart } = await gql(CHART, { root: id, depth: 1, asOf: state.asOf });
    add(orgChart);
    node.loaded = true;
  }
  state.open.add(id);
}

async function select(id) {
  const node = state.nodes.get(id);
  if (!node) return;
  const panel = document.getElementById("org-panel");
  try {
    if (expandable(node) && !state.open.has(id)) await expand(id);
    else if (id !== state.root && state.open.has(id)) state.open.delete(id);
    draw();
    showPanel(panel, node);
  } catch (error) {
    failure(panel, error);
  }
}

function markItem(mark, named = false) {
  const { rule, gap } = mark;
  return h(
    "li",
    { class: `mark ${rule.severity}` },
    h("span", { class: `severity ${rule.severity}` }, SEVERITY[rule.severity]),
    " ",
    h("strong", {}, rule.titleZh),
    h("div", {}, named ? `${place(gap)}：${chinese(gap.message)}` : chinese(gap.message)),
    h("div", { class: "clause", title: rule.source.quote }, `依据：${rule.source.document} ${rule.source.clause}`),
  );
}

// A gap's place, enough to tell it from its namesakes: a household's "2-001" with its
// building, an area with its parent.
const place = (gap) => gap.path.split("/").slice(-2).join(" / ");

function marksList(title, marks, named) {
  return section(title, h("ul", { class: "marks" }, marks.map((m) => markItem(m, named))));
}

function partialNote() {
  const { partial } = state.marks;
  if (!partial.length) return null;
  const counts = partial.map((r) => `${r.titleZh}共 ${r.gaps.totalCount} 个`).join("、");
  return h("p", { class: "note" }, `标记取自每条规则的前 ${GAPS_PER_RULE} 个缺口（${counts}），完整清单见覆盖情况页。`);
}

function showPanel(panel, node) {
  const { own, under } = marksOf(node);
  const links = h("div", { id: "org-links" });
  fill(panel, 
    h("h2", {}, node.name),
    h("p", {}, `${orgForm(node.form)}　书记：${node.secretary ? node.secretary.name : "（空缺）"}　党员：${node.memberCount ?? "—"}`),
    h("p", { class: "no-print actions" },
      node.areaId ? h("a", { href: href("place", node.areaId) }, "所在区域详情") : null,
      h("a", { href: href("chart", null, { root: node.id, focus: null }) }, "以此为根"),
      h("button", { type: "button", onclick: () => showLinks(links, node.id) }, "显示结对、选派与兼职委员"),
    ),
    own.length ? marksList("本级缺口", own, false) : empty("本级没有缺口。"),
    under.length ? marksList(`下级缺口（${under.length}）`, under, true) : null,
    partialNote(),
    links,
  );
}

function showMissing(panel, marks) {
  const { gap } = marks[0];
  fill(panel, 
    h("h2", {}, gap.name),
    h("p", { class: "missing" }, "这里还没有建立党组织。"),
    h("p", { class: "no-print actions" }, h("a", { href: href("place", gap.id) }, "区域详情")),
    marksList("缺口", marks, false),
  );
}

async function showLinks(target, id) {
  loading(target);
  try {
    const { partyOrg } = await gql(LINKS, { id, asOf: state.asOf });
    const pairings = partyOrg.pairings.map((p) => [
      h("a", { href: href("unit", p.unit.id) }, p.unit.name),
      p.responsible ? h("a", { href: href("person", p.responsible.id) }, p.responsible.name) : "（未明确）",
      p.projects.map((x) => `${x.name}（${PROJECT_STATUS[x.status] || x.status || "—"}）`).join("；") || "（无项目）",
    ]);
    const dispatches = (partyOrg.area ? partyOrg.area.dispatches : []).map((d) => [
      DISPATCH_ROLE[d.role], h("a", { href: href("person", d.person.id) }, d.person.name), h("a", { href: href("unit", d.unit.id) }, d.unit.name),
    ]);
    const members = partyOrg.posts.filter((p) => p.concurrent).map((p) => [
      h("a", { href: href("person", p.person.id) }, p.person.name),
      POST_KIND[p.post],
      p.person.employments.map((e) => `${e.unit.name}${e.position ? ` ${e.position}` : ""}`).join("；"),
    ]);
    fill(target, 
      section("结对共建单位", pairings.length ? table(["单位", "责任领导", "共建项目"], pairings) : empty("无")),
      section("选派干部", dispatches.length ? table(["身份", "姓名", "派出单位"], dispatches) : empty("无")),
      section("兼职委员（大党委）", members.length ? table(["姓名", "职务", "所在单位"], members) : empty("无")),
    );
  } catch (error) {
    failure(target, error);
  }
}

// Moves the view onto an org, at full size.
function centre(id) {
  const data = state.chart.getModel().getSeriesByIndex(0).getData();
  for (let i = 0; i < data.count(); i++) {
    const item = data.getRawDataItem(i);
    const at = data.getItemLayout(i);
    if (item && item.id === id && at) {
      state.chart.setOption({ series: [{ zoom: 1, center: [at.x, at.y + 100] }] });
      return;
    }
  }
}

async function chainOf(id) {
  try {
    return (await gql(CHAIN, { id })).responsibleChain.map((o) => o.id);
  } catch {
    return null; // not a household, an area or an org
  }
}

const ENDS = `query($id: ID!) { pairing(id: $id) { org { id } } dispatch(id: $id) { area { id } } }`;

// Opens the chart down to the org responsible for a gap's node (an org itself, an area's
// or a household's nearest org, a pairing's org, a dispatch's area's), and selects it.
async function reveal(id) {
  let chain = await chainOf(id);
  if (!chain) {
    const { pairing, dispatch } = await gql(ENDS, { id });
    const end = (pairing && pairing.org.id) || (dispatch && dispatch.area.id);
    chain = (end && (await chainOf(end))) || [];
  }
  const down = chain.reverse();
  const start = down.indexOf(state.root);
  if (start < 0 || !down.length) return;
  for (const org of down.slice(start)) await expand(org); // the org itself opens too
  const target = down[down.length - 1];
  draw();
  centre(target);
  if (state.nodes.has(target)) showPanel(document.getElementById("org-panel"), state.nodes.get(target));
  document.getElementById("org-chart").dataset.focus = target;
}
