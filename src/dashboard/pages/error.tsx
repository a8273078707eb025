import type { ErrorDetail } from "../../wire/errors";
import { Layout, type Viewer } from "../layout";
import { DASHBOARD_PATH } from "../session";

/** An error as a page: what went wrong, in the API's words, and a way back. */
export function ErrorPage(props: {
  status: number;
  message: string;
  details?: ErrorDetail[];
  viewer?: Viewer;
  back?: string;
}) {
  const title = props.status === 404 ? "Not found" : props.status === 403 ? "Not allowed" : "Something went wrong";
  return (
    <Layout title={title} viewer={props.viewer}>
      <h1>{title}</h1>
      <div class="error" role="alert">
        <p>{props.message}</p>
        {props.details && props.details.length > 0 && (
          <ul>
            {props.details.map((detail) => (
              <li>
                <code>{detail.path}</code>: {detail.message}
              </li>
            ))}
          </ul>
        )}
      </div>
      <p>
        <a href={props.back ?? DASHBOARD_PATH}>{props.back ? "Go back" : "Back to the overview"}</a>
      </p>
    </Layout>
  );
}
