// The page's one way to the server: the public GraphQL API at /graphql, with the token
// the user gave when the server asked for one (kept in this tab's sessionStorage: gone
// when the tab closes, as it should be on a shared office computer).

const TOKEN_KEY = "grassroots.token";

export class ApiError extends Error {}

// The API's messages are English; the ones a planner meets from the page, said in
// Chinese first (the API's own words kept after, for whoever looks into it).
const EXPLAINED = [
  [/is neither the id nor the name of any/, "没有找到这个编号或名称，请检查地址中的编号"],
  [/Variable '\$asOf' has invalid value|is not a valid date/i, "日期格式不对，应为 年-月-日（如 2026-06-30）"],
  [/estimated cost is/, "一次要读的内容太多，请缩小范围或减少展开层级"],
  [/ran past the time limit/, "计算超时，请缩小范围后再试"],
];

function explained(message) {
  const known = EXPLAINED.find(([pattern]) => pattern.test(message));
  return known ? `${known[1]}（${message}）` : message;
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

// Asks for a token in the page's dialog; resolves with it (or "" when cancelled).
function askToken(reason) {
  const dialog = document.getElementById("token-dialog");
  dialog.querySelector(".reason").textContent = reason;
  const input = dialog.querySelector("input");
  input.value = "";
  return new Promise((resolve) => {
    dialog.onclose = () => resolve(dialog.returnValue === "ok" ? input.value.trim() : "");
    dialog.showModal();
    input.focus();
  });
}

// One GraphQL operation; `variables` drop their null entries (the API's defaults apply).
export async function gql(query, variables = {}) {
  const vars = Object.fromEntries(Object.entries(variables).filter(([, v]) => v != null && v !== ""));
  for (;;) {
    const headers = { "Content-Type": "application/json" };
    if (token()) headers.Authorization = `Bearer ${token()}`;
    const reply = await fetch("/graphql", {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables: vars }),
    });
    if (reply.status === 401) {
      let detail = "";
      try {
        detail = (await reply.json()).detail || "";
      } catch {
        detail = "";
      }
      const reason = token()
        ? `令牌无效、已过期或已吊销，请重新输入。（${detail}）`
        : `服务器要求访问令牌：请输入管理员为您签发的令牌（grassroots tokens issue）。`;
      const given = await askToken(reason);
      if (!given) throw new ApiError("未提供访问令牌，无法读取数据。");
      sessionStorage.setItem(TOKEN_KEY, given);
      continue;
    }
    let body;
    try {
      body = await reply.json();
    } catch {
      throw new ApiError(`服务器返回了 ${reply.status}，不是 GraphQL 答复。`);
    }
    if (body.errors && body.errors.length) {
      throw new ApiError(body.errors.map((e) => explained(e.message)).join("；"));
    }
    return body.data;
  }
}
