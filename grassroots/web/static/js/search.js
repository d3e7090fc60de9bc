// Search by name (any part, Chinese included) or by id: areas, party orgs, units, people.

import { gql } from "./api.js";
import { empty, fill, h, loading, section, table } from "./dom.js";
import { AREA_KIND, UNIT_KIND, orgForm } from "./labels.js";
import { href } from "./router.js";

const SEARCH = `query($q: String!, $id: ID!) {
  search(text: $q, first: 50) { __typename
    ... on Area { id name areaKind: kind } ... on PartyOrg { id name form }
    ... on Unit { id name unitKind: kind } ... on Person { id name } }
  area(id: $id) { __typename id name areaKind: kind }
  partyOrg(id: $id) { __typename id name form }
  unit(id: $id) { __typename id name unitKind: kind } person(id: $id) { __typename id name } }`;

const KIND = { Area: "区域", PartyOrg: "党组织", Unit: "单位", Person: "人员" };

function row(hit) {
  const to = {
    Area: href("place", hit.id),
    PartyOrg: href("chart", null, { root: hit.id }),
    Unit: href("unit", hit.id),
    Person: href("person", hit.id),
  }[hit.__typename];
  const detail = { Area: AREA_KIND[hit.areaKind], PartyOrg: orgForm(hit.form), Unit: UNIT_KIND[hit.unitKind], Person: "" }[hit.__typename];
  return [KIND[hit.__typename], h("a", { href: to }, hit.name), detail || "", hit.id];
}

export async function render(target, route) {
  const text = route.params.get("q") || "";
  document.getElementById("search").value = text;
  loading(target, "正在搜索…");
  const data = await gql(SEARCH, { q: text, id: text });
  const byId = [data.area, data.partyOrg, data.unit, data.person].filter(Boolean);
  const hits = [...byId, ...data.search.filter((x) => !byId.some((y) => y.id === x.id))];
  fill(target, 
    section(`搜索“${text}”：${hits.length} 条`, hits.length ? table(["类别", "名称", "说明", "编号"], hits.map(row), { class: "hits" }) : empty("没有找到。请换一个名称或编号。")),
  );
}
