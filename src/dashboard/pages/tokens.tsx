import { TOKEN_PREFIX } from "../../auth/tokens";
import type { ApiTokenRow } from "../../db/schema";
import { TOKEN_SCOPES } from "../../wire/tokens";
import { PostButton, Time } from "../controls";
import { formatTime } from "../format";
import { CsrfField, Layout, type Viewer } from "../layout";
import { DASHBOARD_PATH } from "../session";

/** What each action did, for the notice after its redirect. */
export const TOKEN_NOTICES = { revoked: "The token was revoked: requests with it are refused from now on." } as const;

export type TokenNotice = keyof typeof TOKEN_NOTICES;

/** A secret the page shows this one time: a new token, or a new signing secret. */
export interface ShownOnce {
  title: string;
  value: string;
  explanation: string;
}

export interface SigningSecretShown {
  secret: string;
  createdAt: Date;
  expiresAt: Date | null;
}

/** The project's API tokens and signing secrets: create and revoke tokens, rotate the signing secret. */
export function TokensPage(props: {
  viewer: Viewer;
  tokens: ApiTokenRow[];
  secrets: SigningSecretShown[];
  /** The id of the token this session is signed in with. */
  ownTokenId: string;
  shownOnce?: ShownOnce;
  notice?: TokenNotice;
}) {
  const { viewer, tokens, secrets } = props;
  return (
    <Layout title="Tokens and secrets" viewer={viewer} current="tokens">
      <h1>Tokens and signing secrets</h1>
      {props.notice && (
        <p class="notice" role="status">
          {TOKEN_NOTICES[props.notice]}
        </p>
      )}
      {props.shownOnce && (
        <section class="notice" role="status" aria-labelledby="shown-once-heading">
          <h2 id="shown-once-heading">{props.shownOnce.title}</h2>
          <p>{props.shownOnce.explanation}</p>
          <pre id="shown-once-value">{props.shownOnce.value}</pre>
        </section>
      )}
      <section aria-labelledby="tokens-heading">
        <h2 id="tokens-heading">API tokens</h2>
        <div>
          <table>
            <caption class="vh">The project's API tokens, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Token</th>
                <th scope="col">Scopes</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {tokens.map((token) => (
                <tr>
                  <td data-label="Name">
                    {token.name}
                    {token.id === props.ownTokenId && <span class="muted"> (this session)</span>}
                  </td>
                  <td data-label="Token" class="mono">{`${TOKEN_PREFIX}${token.prefix}…`}</td>
                  <td data-label="Scopes">{token.scopes.join(", ")}</td>
                  <td data-label="Created">
                    <Time at={token.createdAt} />
                  </td>
                  <td data-label="Last used">
                    <Time at={token.lastUsedAt} />
                  </td>
                  <td data-label="State">
                    {token.revokedAt ? (
                      <span class="muted">revoked {formatTime(token.revokedAt)}</span>
                    ) : (
                      <PostButton
                        viewer={viewer}
                        action={`${DASHBOARD_PATH}/tokens/${token.id}/revoke`}
                        label={`Revoke ${token.name}`}
                        danger
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <h3>Create a token</h3>
        <form method="post" action={`${DASHBOARD_PATH}/tokens`} class="filters">
          <CsrfField viewer={viewer} />
          <div>
            <label for="token-name">Name</label>
            <input id="token-name" name="name" required maxlength={100} placeholder="signup-worker" />
          </div>
          <fieldset>
            <legend>Scopes</legend>
            {TOKEN_SCOPES.map((scope) => (
              <label>
                <input type="checkbox" name="scopes" value={scope} checked={scope !== "admin"} />
                {scope}
              </label>
            ))}
          </fieldset>
          <button type="submit">Create token</button>
        </form>
      </section>
      <section aria-labelledby="secrets-heading">
        <h2 id="secrets-heading">Signing secrets</h2>
        <p>
          Every callback is signed with these (Standard Webhooks); a receiver verifies with any of them. During a
          rotation the new secret signs beside the older ones until their grace period ends.
        </p>
        <ul>
          {secrets.map((secret, index) => (
            <li>
              <details>
                <summary>
                  <span class="mono">{`${secret.secret.slice(0, 10)}…`}</span> created <Time at={secret.createdAt} />
                  {index === 0 && " (newest)"}
                  {secret.expiresAt && (
                    <>
                      , stops signing <Time at={secret.expiresAt} />
                    </>
                  )}
                </summary>
                <pre>{secret.secret}</pre>
              </details>
            </li>
          ))}
        </ul>
        <form method="post" action={`${DASHBOARD_PATH}/secrets/rotate`} class="filters">
          <CsrfField viewer={viewer} />
          <div>
            <label for="grace-hours">Older secrets keep signing for (hours)</label>
            <input id="grace-hours" name="grace_hours" type="number" min={0} max={720} value="24" required />
          </div>
          <button type="submit">Rotate signing secret</button>
        </form>
      </section>
    </Layout>
  );
}
