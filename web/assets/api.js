// One door to the HTTP API: JSON in and out, and every refusal turned into an ApiError
// that carries the contract's code and Korean message (never a raw body on screen).

/** A refusal of the API (or of the network), shown to people by ui.showError. */
export class ApiError extends Error {
  constructor(status, code, msg, body) {
    super(`${code}: ${msg}`);
    this.status = status;
    this.code = code;
    this.msg = msg;
    this.body = body;
  }
}

/** Sends one request; answers the parsed JSON body or throws an ApiError. */
export async function call(method, path, { token, body, headers = {} } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers } };
  if (token) init.headers.Authorization = token;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'NETWORK', '서버에 연결할 수 없습니다.', null);
  }
  let json = null;
  try {
    json = await response.json();
  } catch {
    // A body that is not JSON (a proxy's page): reported by its status below.
  }
  if (!response.ok) {
    const code = json?.error ?? 'INTERNAL_ERROR';
    const msg = json?.msg ?? '요청을 처리할 수 없습니다.';
    throw new ApiError(response.status, code, msg, json);
  }
  return json;
}
