// The coverage dashboard: every pack's rules with their ratio, the ratios by the areas
// one level down (a chart and a table), the gap list of a rule with its policy clause,
// paged, each gap one click from its place in the org chart; the Excel report.

import { init } from "../vendor/echarts.js";
import { gql } from "./api.js";
import { chinese, empty, failure, fill, h, loading, section, table } from "./dom.js";
import { AREA_KIND, SEVERITY, percent } from "./labels.js";
import { href, update } from "./router.js";

const REPORT = `query($scope: ID!, $asOf: Date) {
  coverage(scope: $scope, asOf: $asOf) {
    asOf scope packs limitedTo
    rules { id pack titleZh title severity checked satisfied ratio nothingToCheck
            source { document clause quote } gaps(first: 0) { totalCount } } }
  area(id: $scope) { id name kind children { id name kind } } }`;

const GAPS = `query($scope: ID, $asOf: Date, $rule: String!, $after: String) {
  coverage(scope: $scope, asOf: $asOf, rules: [$rule]) {
    rules { id gaps(first: 50, after: $after) { totalCount
      edges { node { id name path message } } pageInfo { hasNextPage endCursor } } } } }`;

const WORKBOOK = `query($scope: ID, $asOf: Date) { coverage(scope: $scope, asOf: $asOf) { asOf workbook } }`;

// One report per area one level down: a few areas a request (each a whole report: a
// request of them all could pass the API's time limit at a city's scale), in turn.
const AREAS_PER_REQUEST = 3;

function breakdownQuery(areas) {
  const parts = areas.map(
    (a, i) => `a${i}: coverage(scope: ${JSON.stringify(a.id)}, asOf: $asOf) {
      rules { id ratio checked satisfied nothingToCheck } }`,
  );
  return `query($asOf: Date) { ${parts.join("\n")} }`;
}

export async function render(target, route, { scope, asOf }) {
  if (!scope) {
    fill(target, empty("库中还没有区域：请先导入台账（grassroots import 路径）。"));
    return;
  }
  loading(target, "正在计算覆盖情况…");
  const data = await gql(REPORT, { scope, asOf });
  const report = data.coverage;
  const area = data.area;
  const rules = report.rules;
  const chosen = route.params.get("rule") || firstShown(rules);
  const title = area ? `${area.name}（${AREA_KIND[area.kind]}）` : "全部";
  fill(target, 
    h(
      "div",
      { class: "page-title" },
      h("h1", {}, `${title} 党组织覆盖情况`),
      h("span", { class: "as-of" }, `截至 ${report.asOf}`),
      report.limitedTo.length
        ? h("span", { class: "limited" }, `仅含本账号可见范围：${report.limitedTo.join("、")}`)
        : null,
      h("button", { class: "no-print", id: "download", onclick: () => download(scope, asOf) }, "导出 Excel 报告"),
      h("a", { class: "no-print", href: "#gaps", onclick: jump }, "缺口清单 ↓"),
    ),
    section("各项规则", rulesTable(rules, chosen)),
    h("div", { id: "gaps" }), // the chosen rule's gaps: the answer a planner came for
    h("div", { id: "breakdown" }),
  );
  // the breakdown is a report per area below: it comes in after the rules and their gaps,
  // which are the view (its box says "done" once it is in)
  const children = (area ? area.children : []).filter((c) => c.kind !== "BUILDING").slice(0, 30);
  const breakdown = document.getElementById("breakdown");
  const later = children.length ? showBreakdown(breakdown, children, rules, chosen, asOf) : Promise.resolve();
  later.finally(() => (breakdown.dataset.done = "true"));
  await showGaps(document.getElementById("gaps"), rules, chosen, scope, asOf, route);
}

// To the gap list, without the address's view changing (#gaps is no route).
function jump(event) {
  event.preventDefault();
  document.getElementById("gaps").scrollIntoView();
}

// The rule shown first: the first 必须 rule with gaps, in pack order (grid_has_branch
// when grids lack a branch), else the first with gaps, else the first.
function firstShown(rules) {
  const failing = rules.filter((r) => !r.nothingToCheck && r.gaps.totalCount);
  const must = failing.filter((r) => r.severity === "MUST");
  return (must[0] || failing[0] || rules[0] || {}).id;
}

// A ratio's colour: whole, nearly, far off.
const grade = (ratio) => (ratio >= 1 ? "whole" : ratio >= 0.8 ? "near" : "far");

function rulesTable(rules, chosen) {
  const rows = rules.map((r) => [
    r.pack,
    [
      h("a", { href: href("dashboard", null, { rule: r.id }), class: r.id === chosen ? "chosen" : null, dataset: { rule: r.id } }, r.titleZh),
      h("span", { class: "rule-id" }, r.id),
    ],
    h("span", { class: `severity ${r.severity}` }, SEVERITY[r.severity]),
    r.nothingToCheck ? "无检查对象" : `${r.satisfied} / ${r.checked}`,
    r.nothingToCheck ? "–" : h("span", { class: `ratio ${grade(r.ratio)}` }, h("span", { class: "fill", style: `width:${r.ratio * 100}%` }), percent(r.ratio)),
    r.gaps.totalCount ? h("a", { href: href("dashboard", null, { rule: r.id }) }, String(r.gaps.totalCount)) : "0",
    h("span", { title: r.source.quote }, `${r.source.document} ${r.source.clause}`),
  ]);
  return table(["规则包", "规则", "等级", "达标 / 检查", "比例", "缺口", "政策依据"], rows, { class: "rules" });
}

async function showBreakdown(target, areas, rules, chosen, asOf) {
  loading(target, "正在按下级区域计算…");
  try {
    const reports = [];
    for (let at = 0; at < areas.length; at += AREAS_PER_REQUEST) {
      const part = areas.slice(at, at + AREAS_PER_REQUEST);
      const data = await gql(breakdownQuery(part), { asOf });
      reports.push(...part.map((_, i) => Object.fromEntries(data[`a${i}`].rules.map((r) => [r.id, r]))));
      loading(target, `正在按下级区域计算… 已完成 ${reports.length} / ${areas.length}`);
    }
    const shown = rules.filter((r) => reports.some((rep) => rep[r.id] && !rep[r.id].nothingToCheck));
    const rule = rules.find((r) => r.id === chosen) || rules[0];
    const canvas = h("div", { class: "bar-chart", id: "breakdown-chart" });
    const cell = (rep, r) => (rep[r.id] && !rep[r.id].nothingToCheck ? percent(rep[r.id].ratio) : "–");
    fill(target, 
      section(
        `按${AREA_KIND[areas[0].kind] || "区域"}：${rule ? rule.titleZh : ""}`,
        canvas,
        table(
          ["规则", ...areas.map((a) => h("a", { href: href("dashboard", null, { scope: a.id, rule: chosen }) }, a.name))],
          shown.map((r) => [[r.titleZh, h("span", { class: "rule-id" }, r.id)], ...reports.map((rep) => cell(rep, r))]),
          { class: "breakdown" },
        ),
      ),
    );
    const values = reports.map((rep) => (rep[rule.id] && !rep[rule.id].nothingToCheck ? +(rep[rule.id].ratio * 100).toFixed(1) : null));
    const bar = init(canvas, null, { renderer: "svg" });
    bar.setOption({
      animation: false,
      textStyle: { fontFamily: getComputedStyle(document.body).fontFamily },
      grid: { left: 48, right: 16, top: 16, bottom: 60 },
      tooltip: { trigger: "axis", valueFormatter: (v) => (v == null ? "无检查对象" : `${v}%`) },
      xAxis: { type: "category", data: areas.map((a) => a.name), axisLabel: { interval: 0, rotate: areas.length > 6 ? 30 : 0 } },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      series: [{ type: "bar", data: values, itemStyle: { color: "#c0392b" }, barMaxWidth: 40 }],
    });
    bar.on("click", (event) => update({ scope: areas[event.dataIndex].id, rule: chosen }));
    new ResizeObserver(() => bar.resize()).observe(canvas);
  } catch (error) {
    failure(target, error);
  }
}

async function showGaps(target, rules, chosen, scope, asOf, route) {
  const rule = rules.find((r) => r.id === chosen);
  if (!rule) return;
  const after = route.params.get("after");
  const data = await gql(GAPS, { scope, asOf, rule: chosen, after });
  const page = data.coverage.rules[0].gaps;
  const rows = page.edges.map(({ node }) => [
    h("span", { class: "path" }, node.path),
    chinese(node.message),
    h("a", { class: "no-print", href: href("chart", null, { focus: node.id }) }, "在组织架构中查看"),
  ]);
  fill(target, 
    section(
      `缺口清单：${rule.titleZh}（共 ${page.totalCount} 个）`,
      h("p", { class: "source" }, h("strong", {}, "政策依据："), `${rule.source.document} ${rule.source.clause}`, h("q", {}, rule.source.quote)),
      rows.length ? table(["位置", "问题", ""], rows, { class: "gaps" }) : empty("这条规则在此范围内没有缺口。"),
      h(
        "p",
        { class: "pager no-print" },
        after ? h("a", { href: href("dashboard", null, { rule: chosen, after: null }) }, "回到第一页") : null,
        page.pageInfo.hasNextPage
          ? h("a", { href: href("dashboard", null, { rule: chosen, after: page.pageInfo.endCursor }) }, "下一页")
          : null,
      ),
    ),
  );
}

async function download(scope, asOf) {
  const button = document.getElementById("download");
  button.disabled = true;
  button.textContent = "正在生成…";
  try {
    const { coverage } = await gql(WORKBOOK, { scope, asOf });
    const bytes = Uint8Array.from(atob(coverage.workbook), (c) => c.charCodeAt(0));
    const blob = new Blob([bytes], { type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" });
    const named = document.querySelector("#scope option:checked");
    const where = named ? named.textContent.split("（")[0] : scope || "全部";
    const link = h("a", { href: URL.createObjectURL(blob), download: `覆盖情况-${where}-${coverage.asOf}.xlsx` });
    document.body.append(link);
    link.click();
    link.remove();
  } catch (error) {
    failure(document.getElementById("gaps"), error);
  } finally {
    button.disabled = false;
    button.textContent = "导出 Excel 报告";
  }
}
