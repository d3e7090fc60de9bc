// A unit: where it stands, the orgs it is paired with and their projects, the cadres it
// sent and where, its people.

import { gql } from "./api.js";
import { empty, fill, h, loading, section, table } from "./dom.js";
import { DISPATCH_ROLE, PROJECT_STATUS, UNIT_KIND } from "./labels.js";
import { href } from "./router.js";

const UNIT = `query($id: ID!, $asOf: Date) { unit(id: $id) {
  id name kind level area { id name }
  pairings(asOf: $asOf) { id since org { id name } area { id name } responsible { id name }
                          projects { name status } }
  dispatches(asOf: $asOf) { role since person { id name } area { id name } }
  employments(asOf: $asOf) { position leadership person { id name } } } }`;

const link = (view, node) => h("a", { href: href(view, node.id) }, node.name);

export async function render(target, route, { asOf }) {
  loading(target);
  const { unit } = await gql(UNIT, { id: route.id, asOf });
  if (!unit) {
    fill(target, empty(`没有找到单位 ${route.id}。`));
    return;
  }
  fill(target, 
    h("div", { class: "page-title" }, h("h1", {}, unit.name), h("span", {}, UNIT_KIND[unit.kind]),
      unit.area ? h("span", {}, "所在：", link("place", unit.area)) : null),
    section("结对共建", unit.pairings.length ? table(["结对党组织", "区域", "责任领导", "共建项目"], unit.pairings.map((p) => [
      h("a", { href: href("chart", null, { root: p.org.id }) }, p.org.name),
      p.area ? link("place", p.area) : "—",
      p.responsible ? link("person", p.responsible) : h("span", { class: "missing" }, "未明确"),
      p.projects.map((x) => `${x.name}（${PROJECT_STATUS[x.status] || x.status || "—"}）`).join("；") || "—",
    ]), { class: "pairings" }) : empty("无")),
    section("选派干部", unit.dispatches.length ? table(["姓名", "身份", "派驻到"], unit.dispatches.map((d) => [
      link("person", d.person), DISPATCH_ROLE[d.role], link("place", d.area),
    ])) : empty("无")),
    section("人员", unit.employments.length ? table(["姓名", "职务", "班子成员"], unit.employments.map((e) => [
      link("person", e.person), e.position || "—", e.leadership ? "是" : "",
    ])) : empty("无")),
  );
}
