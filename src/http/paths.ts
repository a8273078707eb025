/** Where the API's interactive reference is served: the API mounts it, the dashboard links to it. */
export const API_REFERENCE_PATH = "/docs";
