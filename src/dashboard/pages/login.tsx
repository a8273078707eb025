import { Layout } from "../layout";
import { DASHBOARD_PATH } from "../session";

/** The sign-in form: an API token of the project to look at. */
export function LoginPage(props: { error?: string; notice?: string }) {
  return (
    <Layout title="Sign in">
      <h1>Sign in to Fliq</h1>
      {props.notice && (
        <p class="notice" role="status">
          {props.notice}
        </p>
      )}
      {props.error && (
        <p class="error" role="alert" id="login-error">
          {props.error}
        </p>
      )}
      <form method="post" action={`${DASHBOARD_PATH}/login`}>
        <div class="field">
          <label for="token">API token</label>
          <input
            id="token"
            name="token"
            type="password"
            required
            autocomplete="off"
            spellcheck={false}
            placeholder="fliq_sk_…"
            size={50}
            aria-describedby={props.error ? "token-help login-error" : "token-help"}
          />
          <p id="token-help" class="muted">
            A token with the read scope shows the project; one with the write scope can also act on jobs. The token
            stays in an HttpOnly cookie in this browser until you sign out.
          </p>
        </div>
        <button type="submit">Sign in</button>
      </form>
    </Layout>
  );
}
