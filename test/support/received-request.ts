/** One request as the test receiver recorded it (shared by the receiver and the tests). */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  receivedAt: number;
  /** When the receiver's answer was done (absent while it is being answered). */
  answeredAt?: number;
}
