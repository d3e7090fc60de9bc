// A place (a village, community, grid or any area): its party org and secretary, the
// areas below it and their orgs (a grid without a branch stands out), the units paired
// with it with their responsible leaders and projects, the cadres dispatched to it by
// role, its resident units and big-committee members, each a link.

import { gql } from "./api.js";
import { empty, fill, h, loading, section, table } from "./dom.js";
import { AREA_KIND, DISPATCH_ROLE, POST_KIND, PROJECT_STATUS, UNIT_KIND, orgForm } from "./labels.js";
import { href } from "./router.js";

const AREA = `query($id: ID!, $asOf: Date) { area(id: $id) {
  id name kind householdsCount population parent { id name kind }
  partyOrgs { id name form memberCount secretary(asOf: $asOf) { id name phone } }
  children { id name kind partyOrgs { id name form secretary(asOf: $asOf) { id name } } }
  dispatches(asOf: $asOf) { id role since until person { id name phone } unit { id name } }
  units { id name kind } } }`;

const LINKS = `query($id: ID!, $asOf: Date) { area(id: $id) { partyOrgs {
  pairings(asOf: $asOf) { id since until unit { id name kind }
                          responsible { id name phone } projects { id name category status } }
  posts(asOf: $asOf) { post concurrent since
    person { id name employments(asOf: $asOf) { position unit { id name } } } } } } }`;

const link = (view, node, text = node.name) => h("a", { href: href(view, node.id) }, text);

export async function render(target, route, { asOf }) {
  loading(target);
  const [{ area }, links] = await Promise.all([
    gql(AREA, { id: route.id, asOf }),
    gql(LINKS, { id: route.id, asOf }),
  ]);
  if (!area) {
    fill(target, empty(`没有找到区域 ${route.id}。`));
    return;
  }
  const orgs = links.area.partyOrgs;
  const pairings = orgs.flatMap((o) => o.pairings);
  const members = orgs.flatMap((o) => o.posts).filter((p) => p.concurrent);
  const secretaries = area.partyOrgs.map((o) => [
    h("a", { href: href("chart", null, { root: o.id }) }, o.name),
    orgForm(o.form, area.kind),
    o.secretary ? [link("person", o.secretary), o.secretary.phone ? `（${o.secretary.phone}）` : ""] : h("span", { class: "missing" }, "书记空缺"),
    o.memberCount ?? "—",
  ]);
  const children = area.children.map((c) => [
    link("place", c),
    AREA_KIND[c.kind],
    c.partyOrgs.length
      ? c.partyOrgs.map((o) => `${o.name}${o.secretary ? `（书记 ${o.secretary.name}）` : "（书记空缺）"}`).join("；")
      : h("span", { class: "missing" }, c.kind === "GRID" ? "未建网格党支部" : "未建党组织"),
  ]);
  const byRole = Object.keys(DISPATCH_ROLE).map((role) => [role, area.dispatches.filter((d) => d.role === role)]);
  fill(target, 
    h("div", { class: "page-title" },
      h("h1", {}, `${area.name}（${AREA_KIND[area.kind]}）`),
      area.parent ? h("span", {}, "上级：", link("place", area.parent)) : null,
      h("span", { class: "as-of" }, asOf ? `截至 ${asOf}` : "截至今日"),
      h("span", {}, [area.householdsCount != null ? `${area.householdsCount} 户` : "", area.population != null ? ` ${area.population} 人` : ""]),
      h("span", { class: "no-print actions" },
        h("a", { href: href("dashboard", null, { scope: area.id }) }, "本区域覆盖情况"),
        h("a", { href: href("chart", null, { scope: area.id, root: null }) }, "本区域组织架构")),
    ),
    section("党组织", secretaries.length ? table(["党组织", "形式", "书记", "党员数"], secretaries) : h("p", { class: "missing" }, "这里还没有建立党组织。")),
    section("下辖区域", children.length ? table(["区域", "类别", "党组织"], children, { class: "children" }) : empty("无下辖区域。")),
    section(
      "结对共建",
      pairings.length
        ? table(["共建单位", "责任领导", "共建项目", "起始"], pairings.map((p) => [
            link("unit", p.unit),
            p.responsible ? [link("person", p.responsible), p.responsible.phone ? `（${p.responsible.phone}）` : ""] : h("span", { class: "missing" }, "未明确"),
            p.projects.length ? h("ul", {}, p.projects.map((x) => h("li", {}, `${x.name}`, h("span", { class: `status ${x.status}` }, PROJECT_STATUS[x.status] || x.status || "—")))) : h("span", { class: "missing" }, "无共建项目"),
            p.since,
          ]), { class: "pairings" })
        : h("p", { class: "missing" }, "没有结对共建单位。"),
    ),
    section(
      "选派干部",
      ...byRole.map(([role, list]) =>
        h("div", {}, h("h3", {}, DISPATCH_ROLE[role]),
          list.length ? table(["姓名", "派出单位", "起始"], list.map((d) => [link("person", d.person), link("unit", d.unit), d.since])) : empty("无")),
      ),
    ),
    section("驻区单位", area.units.length ? table(["单位", "类别"], area.units.map((u) => [link("unit", u), UNIT_KIND[u.kind]])) : empty("无")),
    section("兼职委员（大党委/大工委）", members.length ? table(["姓名", "职务", "所在单位"], members.map((p) => [
      link("person", p.person), POST_KIND[p.post],
      p.person.employments.map((e) => [link("unit", e.unit), e.position ? ` ${e.position}` : ""]),
    ])) : empty("无")),
  );
}
