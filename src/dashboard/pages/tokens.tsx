import { TOKEN_SCOPES } from "../../api/token-schemas";
import { TOKEN_PREFIX } from "../../auth/tokens";
import type { ApiTokenRow } from "../../db/schema";
import { CsrfField, Layout, Notice, Time, type Viewer } from "../layout";
import { DASHBOARD_PATH } from "../session";

/** What each token action did, for the notice after its redirect. */
export const TOKEN_NOTICES = {
  revoked: "The token was revoked: the next request with it is refused.",
} as const;

export type TokenNotice = keyof typeof TOKEN_NOTICES;

const SCOPE_HELP: Record<(typeof TOKEN_SCOPES)[number], string> = {
  read: "look",
  write: "create and change jobs and schedules",
  admin: "everything, plus tokens and signing secrets",
};

/** A token just created: its secret, shown on this one page and never again. */
function CreatedToken(props: { row: ApiTokenRow; token: string }) {
  return (
    <section class="secret" aria-labelledby="created-heading">
      <h2 id="created-heading">Token “{props.row.name}” created</h2>
      <p>Copy it now: this is the only time it is shown. Fliq keeps only its hash.</p>
      <label for="created-token">Token</label>
      <output id="created-token">{props.token}</output>
    </section>
  );
}

/** The project's tokens, a form to create one, and a revoke button for each live one. */
export function TokensPage(props: {
  viewer: Viewer;
  tokens: ApiTokenRow[];
  /** The token this browser is signed in with. */
  sessionTokenId: string;
  created?: { row: ApiTokenRow; token: string };
  notice?: TokenNotice;
}) {
  const { viewer } = props;
  return (
    <Layout title="Tokens" viewer={viewer} current="tokens">
      <h1>Tokens</h1>
      <Notice text={props.notice && TOKEN_NOTICES[props.notice]} />
      {props.created && <CreatedToken {...props.created} />}
      <section aria-labelledby="create-heading">
        <h2 id="create-heading">Create a token</h2>
        <form method="post" action={`${DASHBOARD_PATH}/tokens`}>
          <CsrfField viewer={viewer} />
          <div class="field">
            <label for="token-name">Name</label>
            <input id="token-name" name="name" required maxlength={100} size={30} placeholder="deploy bot" />
          </div>
          <fieldset class="scopes">
            <legend>Scopes</legend>
            {TOKEN_SCOPES.map((scope) => (
              <label>
                <input type="checkbox" name="scopes" value={scope} checked={scope !== "admin"} />
                {scope} <span class="muted">({SCOPE_HELP[scope]})</span>
              </label>
            ))}
          </fieldset>
          <button type="submit">Create token</button>
        </form>
      </section>
      <section aria-labelledby="list-heading">
        <h2 id="list-heading">The project's tokens</h2>
        <div class="scroll">
          <table>
            <caption class="vh">Tokens, newest first, revoked ones included</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Scopes</th>
                <th scope="col">Prefix</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">Revoked</th>
              </tr>
            </thead>
            <tbody>
              {props.tokens.map((token) => {
                const current = token.id === props.sessionTokenId;
                return (
                  <tr id={`token-${token.id}`}>
                    <td>
                      {token.name}
                      {current && <span class="muted"> (this session)</span>}
                    </td>
                    <td>{token.scopes.join(", ")}</td>
                    <td class="mono">
                      {TOKEN_PREFIX}
                      {token.prefix}…
                    </td>
                    <td>
                      <Time at={token.createdAt} />
                    </td>
                    <td>
                      <Time at={token.lastUsedAt} />
                    </td>
                    <td>
                      {token.revokedAt ? (
                        <Time at={token.revokedAt} />
                      ) : (
                        <form method="post" action={`${DASHBOARD_PATH}/tokens/${token.id}/revoke`}>
                          <CsrfField viewer={viewer} />
                          <button type="submit" class="danger" aria-describedby={current ? "revoke-own" : undefined}>
                            Revoke “{token.name}”{current && " and sign out"}
                          </button>
                        </form>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        <p class="muted" id="revoke-own">
          Revoking takes effect at once: apps using the token get 401 on their next request. Revoking the token this
          browser is signed in with signs you out.
        </p>
      </section>
    </Layout>
  );
}
