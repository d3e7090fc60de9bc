// Building the page's elements: text always goes in as text, never as HTML, so a name
// from the store can never become markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

export function table(headers, rows, attrs = {}) {
  return h(
    "table",
    attrs,
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))),
  );
}

// ``target``'s children become these, leaving out the null and false a condition gave.
export function fill(target, ...children) {
  target.replaceChildren(...children.flat().filter((c) => c != null && c !== false));
}

export const empty = (text) => h("p", { class: "empty" }, text);

export function loading(target, text = "正在读取…") {
  target.replaceChildren(h("p", { class: "loading" }, text));
}

export function failure(target, error) {
  target.replaceChildren(
    h("div", { class: "error", role: "alert" }, h("strong", {}, "出错了："), error.message || String(error)),
  );
}

// A gap's message in the page's language: the packs write "中文 / English".
export const chinese = (message) => String(message).split(" / ")[0];
