// A person: posts, jobs, dispatches and the households they keep in touch with. Phone and
// ID number come masked unless the token has the personal grant: the page shows what the
// API gives, never more.

import { gql } from "./api.js";
import { empty, fill, h, loading, section, table } from "./dom.js";
import { DISPATCH_ROLE, GENDER, POST_KIND } from "./labels.js";
import { href } from "./router.js";

const PERSON = `query($id: ID!, $asOf: Date) { person(id: $id) {
  id name gender partyMember phone idNumber
  posts(asOf: $asOf) { post concurrent since org { id name } }
  employments(asOf: $asOf) { position leadership unit { id name } }
  dispatches(asOf: $asOf) { role since area { id name } unit { id name } }
  contacts(asOf: $asOf) { household { id name building { id name } } } } }`;

const link = (view, node) => h("a", { href: href(view, node.id) }, node.name);

export async function render(target, route, { asOf }) {
  loading(target);
  const { person } = await gql(PERSON, { id: route.id, asOf });
  if (!person) {
    fill(target, empty(`没有找到人员 ${route.id}。`));
    return;
  }
  fill(target, 
    h("div", { class: "page-title" }, h("h1", {}, person.name),
      h("span", {}, [GENDER[person.gender] || "", person.partyMember ? " 党员" : ""]),
      h("span", { class: "pii" }, `电话 ${person.phone || "—"}　身份证号 ${person.idNumber || "—"}`)),
    section("党内职务", person.posts.length ? table(["党组织", "职务", "兼职委员"], person.posts.map((p) => [
      h("a", { href: href("chart", null, { root: p.org.id }) }, p.org.name), POST_KIND[p.post], p.concurrent ? "是" : "",
    ])) : empty("无")),
    section("任职", person.employments.length ? table(["单位", "职务"], person.employments.map((e) => [
      link("unit", e.unit), `${e.position || "—"}${e.leadership ? "（班子成员）" : ""}`,
    ])) : empty("无")),
    section("选派", person.dispatches.length ? table(["身份", "派驻到", "派出单位"], person.dispatches.map((d) => [
      DISPATCH_ROLE[d.role], link("place", d.area), link("unit", d.unit),
    ])) : empty("无")),
    section("联系户", person.contacts.length ? table(["住户", "楼栋"], person.contacts.map((c) => [
      c.household.name, c.household.building ? link("place", c.household.building) : "—",
    ])) : empty("无")),
  );
}
