import type { TopicWithEndpoints } from "../../db/topics";
import { JOB_LIMITS } from "../../jobs/limits";
import { PostButton, ReadOnlyNote, Time } from "../controls";
import { CsrfField, Layout, type Viewer } from "../layout";
import { DASHBOARD_PATH } from "../session";

/** What each action did, for the notice after its redirect. */
export const TOPIC_NOTICES = {
  created: "The topic was created.",
  added: "The endpoint was added: messages published from now on go to it too.",
  removed: "The endpoint was removed: messages published before still go to it.",
  deleted: "The topic was deleted; the jobs published to it stay.",
} as const;

export type TopicNotice = keyof typeof TOPIC_NOTICES;

const topicPath = (name: string) => `${DASHBOARD_PATH}/topics/${encodeURIComponent(name)}`;

/**
 * The project's fan-out topics and their endpoints: create a topic, add and remove endpoints,
 * delete a topic. Publishing is the API's (`POST /topics/:name/jobs`); each message's jobs are
 * listed together on any of their job pages.
 */
export function TopicsPage(props: { viewer: Viewer; topics: TopicWithEndpoints[]; notice?: TopicNotice }) {
  const { viewer, topics } = props;
  return (
    <Layout title="Topics" viewer={viewer} current="topics">
      <h1>Topics</h1>
      {props.notice && (
        <p class="notice" role="status">
          {TOPIC_NOTICES[props.notice]}
        </p>
      )}
      <p>
        A message published to a topic (<code>POST /topics/:name/jobs</code>) becomes one job per endpoint, each
        delivered, retried and recorded on its own.
      </p>
      <ReadOnlyNote viewer={viewer} what="topics" />
      {topics.length === 0 && <p class="muted">No topics yet.</p>}
      {topics.map(({ topic, endpoints }) => (
        <section aria-labelledby={`topic-${topic.id}`} id={`topic-name-${topic.name}`}>
          <h2 id={`topic-${topic.id}`} class="mono">
            {topic.name}
          </h2>
          <p class="muted">
            Created <Time at={topic.createdAt} />.{" "}
            <a href={`${DASHBOARD_PATH}/jobs?topic=${encodeURIComponent(topic.name)}`}>Its jobs</a>
          </p>
          {endpoints.length === 0 ? (
            <p class="muted">No endpoints: publishing to it is refused until one is added.</p>
          ) : (
            <div>
              <table>
                <caption class="vh">{`Endpoints of ${topic.name}`}</caption>
                <thead>
                  <tr>
                    <th scope="col">Endpoint</th>
                    <th scope="col">Added</th>
                    <th scope="col">
                      <span class="vh">Remove</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {endpoints.map((endpoint) => (
                    <tr>
                      <td data-label="Endpoint" class="url">
                        {endpoint.url}
                      </td>
                      <td data-label="Added">
                        <Time at={endpoint.createdAt} />
                      </td>
                      <td data-label="Remove">
                        <PostButton
                          viewer={viewer}
                          action={`${topicPath(topic.name)}/endpoints/${endpoint.id}/remove`}
                          label="Remove"
                          accessibleName={`Remove ${endpoint.url}`}
                          danger
                        />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {viewer.canAct && (
            <form method="post" action={`${topicPath(topic.name)}/endpoints`} class="filters">
              <CsrfField viewer={viewer} />
              <div>
                <label for={`endpoint-${topic.id}`}>New endpoint</label>
                <input
                  id={`endpoint-${topic.id}`}
                  name="url"
                  type="url"
                  required
                  maxlength={JOB_LIMITS.urlMaxLength}
                  placeholder="https://example.com/hooks/orders"
                />
              </div>
              <button type="submit">Add endpoint</button>
            </form>
          )}
          <PostButton
            viewer={viewer}
            action={`${topicPath(topic.name)}/delete`}
            label="Delete topic"
            accessibleName={`Delete topic ${topic.name}`}
            danger
          />
        </section>
      ))}
      {viewer.canAct && (
        <section aria-labelledby="new-topic-heading">
          <h2 id="new-topic-heading">New topic</h2>
          <form method="post" action={`${DASHBOARD_PATH}/topics`}>
            <CsrfField viewer={viewer} />
            <div>
              <label for="topic-name">Name</label>
              <input
                id="topic-name"
                name="name"
                required
                maxlength={JOB_LIMITS.topicNameMaxLength}
                pattern="[A-Za-z0-9][A-Za-z0-9._\-]*"
                placeholder="user.signed-up"
              />
            </div>
            <div>
              <label for="topic-endpoints">Endpoints, one URL a line</label>
              <textarea id="topic-endpoints" name="endpoints" rows={3} />
            </div>
            <button type="submit">Create topic</button>
          </form>
        </section>
      )}
    </Layout>
  );
}
