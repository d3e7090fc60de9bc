// The page's one way to the server: the public GraphQL API at /graphql, with the token
// the user gave when the server asked for one (kept in this tab's sessionStorage: gone
// when the tab closes, as it should be on a shared office computer).

const TOKEN_KEY = "grassroots.token";

export class ApiError extends Error {}

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
      throw new ApiError(body.errors.map((e) => e.message).join("；"));
    }
    return body.data;
  }
}
