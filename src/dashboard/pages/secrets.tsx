import type { SigningSecretRow } from "../../db/schema";
import { CsrfField, Layout, Time, type Viewer } from "../layout";
import { DASHBOARD_PATH } from "../session";

/** How much of a secret the list shows: enough to tell secrets apart, far too little to sign with. */
const SHOWN_CHARS = "whsec_".length + 4;

/** A secret shown in full: the one just created by a rotation, or one revealed on request. */
function ShownSecret(props: { heading: string; secret: string; note: string }) {
  return (
    <section class="secret" aria-labelledby="shown-heading">
      <h2 id="shown-heading">{props.heading}</h2>
      <p>{props.note}</p>
      <label for="shown-secret">Secret</label>
      <output id="shown-secret">{props.secret}</output>
    </section>
  );
}

/**
 * The secrets that sign the project's callbacks: masked in the list, each revealed by a POST
 * (so no secret is in a page the browser merely loads), and a rotation with its grace period.
 */
export function SecretsPage(props: {
  viewer: Viewer;
  secrets: SigningSecretRow[];
  rotated?: { secret: SigningSecretRow; previousSecretsExpireAt: Date };
  revealed?: SigningSecretRow;
}) {
  const { viewer, rotated } = props;
  return (
    <Layout title="Signing secrets" viewer={viewer} current="secrets">
      <h1>Signing secrets</h1>
      <p>
        Every callback carries a <code>webhook-signature</code> made with these secrets; receivers verify it with them.
        During a rotation, callbacks carry one signature per live secret, so receivers can switch at any time within the
        grace period.
      </p>
      {rotated && (
        <>
          <p class="notice" role="status">
            A new signing secret is current.{" "}
            {rotated.previousSecretsExpireAt.getTime() > rotated.secret.createdAt.getTime() ? (
              <>
                The older ones keep signing beside it until <Time at={rotated.previousSecretsExpireAt} />.
              </>
            ) : (
              "The older ones stopped signing at once."
            )}
          </p>
          <ShownSecret
            heading="The new secret"
            secret={rotated.secret.secret}
            note="Give it to your receivers now; it is shown here this once (an admin can reveal it again below)."
          />
        </>
      )}
      {props.revealed && (
        <ShownSecret
          heading={`Secret created ${props.revealed.createdAt.toISOString().slice(0, 19).replace("T", " ")} UTC`}
          secret={props.revealed.secret}
          note="Shown on this page only; reload the list to hide it again."
        />
      )}
      <section aria-labelledby="live-heading">
        <h2 id="live-heading">Live secrets</h2>
        <div class="scroll">
          <table>
            <caption class="vh">The secrets signing callbacks now, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Secret</th>
                <th scope="col">Created</th>
                <th scope="col">Signs until</th>
                <th scope="col">Show</th>
              </tr>
            </thead>
            <tbody>
              {props.secrets.map((secret, index) => (
                <tr>
                  <td class="mono">
                    {secret.secret.slice(0, SHOWN_CHARS)}…{index === 0 && <span class="muted"> (current)</span>}
                  </td>
                  <td>
                    <Time at={secret.createdAt} />
                  </td>
                  <td>{secret.expiresAt ? <Time at={secret.expiresAt} /> : "no end set"}</td>
                  <td>
                    <form method="post" action={`${DASHBOARD_PATH}/secrets/reveal`}>
                      <CsrfField viewer={viewer} />
                      <input type="hidden" name="secret_id" value={secret.id} />
                      <button
                        type="submit"
                        class="secondary"
                        aria-label={`Reveal the secret created ${secret.createdAt.toISOString()}`}
                      >
                        Reveal
                      </button>
                    </form>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <section aria-labelledby="rotate-heading">
        <h2 id="rotate-heading">Rotate</h2>
        <form method="post" action={`${DASHBOARD_PATH}/secrets/rotate`} class="actions">
          <CsrfField viewer={viewer} />
          <div>
            <label for="grace-hours">Older secrets keep signing for (hours)</label>
            <input id="grace-hours" name="grace_hours" type="number" min={0} max={720} step="any" value="24" required />
          </div>
          <button type="submit" class="danger">
            Rotate signing secret
          </button>
        </form>
      </section>
    </Layout>
  );
}
