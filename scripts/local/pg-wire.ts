/**
 * The few pieces of the Postgres wire protocol (v3) the local bridge needs to stand in for
 * Neon's proxy and pooler: framing a byte stream into messages, building the handful of
 * messages a server sends at login, and logging in to a real server (cleartext, MD5 or
 * SCRAM-SHA-256) with Node's native crypto.
 * See https://www.postgresql.org/docs/current/protocol-message-formats.html
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import { once } from "node:events";
import { connect, type Socket } from "node:net";

export const PROTOCOL_3 = 196608;
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;

/** One whole message: its type byte (0 for the untyped startup-phase ones) and its body. */
export interface Message {
  type: number;
  body: Buffer;
  /** The message's bytes as they came, header included, to pass on unchanged. */
  raw: Buffer;
}

/**
 * Cuts a byte stream into whole messages, across arbitrarily split chunks. Untyped messages
 * (SSL/GSS requests, the startup message) have a 4-byte length only; call `typed()` once the
 * startup message is through, and every later message has a type byte and a length.
 */
export class MessageReader {
  private buffered: Buffer = Buffer.alloc(0);

  constructor(private untyped = false) {}

  /** From now on, messages start with a type byte. */
  typed(): void {
    this.untyped = false;
  }

  /** The messages completed by this chunk, in order. */
  push(chunk: Buffer): Message[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const messages: Message[] = [];
    let offset = 0;
    for (;;) {
      const headerLength = this.untyped ? 4 : 5;
      if (this.buffered.length - offset < headerLength) break;
      const length = this.buffered.readInt32BE(offset + headerLength - 4);
      const total = headerLength - 4 + length;
      if (this.buffered.length - offset < total) break;
      const raw = this.buffered.subarray(offset, offset + total);
      messages.push({ type: this.untyped ? 0 : raw[0], body: raw.subarray(headerLength), raw });
      offset += total;
      // Only the first message can be untyped here; the caller switches after reading it.
      if (this.untyped) {
        this.buffered = this.buffered.subarray(offset);
        return messages;
      }
    }
    this.buffered = this.buffered.subarray(offset);
    return messages;
  }

  /** Bytes read but not yet part of a whole message. */
  get pending(): number {
    return this.buffered.length;
  }
}

/** A typed message from its type character and body. */
export function message(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, "latin1");
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

const int32 = (value: number) => {
  const bytes = Buffer.alloc(4);
  bytes.writeInt32BE(value);
  return bytes;
};
const cstring = (text: string) => Buffer.from(`${text}\0`, "utf8");

export const authenticationRequest = (code: number) => message("R", int32(code));
export const readyForQuery = (status: string) => message("Z", Buffer.from(status, "latin1"));
export const simpleQuery = (sql: string) => message("Q", cstring(sql));
export const terminate = () => message("X");

/** An ErrorResponse with a severity, an SQLSTATE code and a message. */
export function errorResponse(code: string, text: string): Buffer {
  return message(
    "E",
    Buffer.concat([cstring(`SFATAL`), cstring(`VFATAL`), cstring(`C${code}`), cstring(`M${text}`), Buffer.from([0])]),
  );
}

/** The parameters of a startup message (user, database, client_encoding, …). */
export function startupParameters(body: Buffer): Record<string, string> {
  const parts = body.subarray(4).toString("utf8").split("\0");
  const parameters: Record<string, string> = {};
  for (let i = 0; i + 1 < parts.length && parts[i] !== ""; i += 2) parameters[parts[i]] = parts[i + 1];
  return parameters;
}

function startupMessage(parameters: Record<string, string>): Buffer {
  const pairs = Object.entries(parameters).flatMap(([name, value]) => [cstring(name), cstring(value)]);
  const body = Buffer.concat([int32(PROTOCOL_3), ...pairs, Buffer.from([0])]);
  return Buffer.concat([int32(body.length + 4), body]);
}

/** A server connection that has logged in and is ready for queries. */
export interface ServerLogin {
  socket: Socket;
  /** The ParameterStatus messages the server sent at login, to replay to each client. */
  parameterStatus: Buffer[];
}

/** A login the server refused: its ErrorResponse, to pass on to the client as it is. */
export class LoginRefused extends Error {
  constructor(readonly response: Buffer) {
    super(`the server refused the login: ${errorText(response)}`);
  }
}

/** The M (message) field of an ErrorResponse. */
function errorText(response: Buffer): string {
  for (const field of response.subarray(5).toString("utf8").split("\0"))
    if (field.startsWith("M")) return field.slice(1);
  return "unknown error";
}

const AUTH_OK = 0;
const AUTH_CLEARTEXT = 3;
const AUTH_MD5 = 5;
const AUTH_SASL = 10;
const AUTH_SASL_CONTINUE = 11;
const AUTH_SASL_FINAL = 12;

/**
 * Opens a TCP connection to a Postgres server and logs in with the client's startup
 * parameters and password, answering whatever the server asks (trust, cleartext, MD5,
 * SCRAM-SHA-256). Resolves once the server is ready for queries.
 */
export async function loginToServer(
  target: { host: string; port: number },
  parameters: Record<string, string>,
  password: string,
): Promise<ServerLogin> {
  const socket = connect(target.port, target.host);
  socket.setNoDelay(true);
  await once(socket, "connect");
  socket.write(startupMessage(parameters));
  const reader = new MessageReader();
  const parameterStatus: Buffer[] = [];
  let scram: ScramClient | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (error: Error) => {
        socket.removeAllListeners("data");
        reject(error);
      };
      socket.once("error", fail);
      socket.once("close", () => fail(new Error("the server closed the connection during login")));
      socket.on("data", (chunk: Buffer) => {
        try {
          for (const { type, body, raw } of reader.push(chunk)) {
            const kind = String.fromCharCode(type);
            if (kind === "E") throw new LoginRefused(Buffer.from(raw));
            if (kind === "S") parameterStatus.push(Buffer.from(raw));
            if (kind === "Z") {
              socket.removeAllListeners();
              resolve();
              return;
            }
            if (kind === "R") scram = answerAuthentication(socket, body, parameters.user ?? "", password, scram);
          }
        } catch (error) {
          fail(error as Error);
        }
      });
    });
    return { socket, parameterStatus };
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/** Answers one authentication request of the server; returns the SCRAM exchange under way, if any. */
function answerAuthentication(
  socket: Socket,
  body: Buffer,
  user: string,
  password: string,
  scram: ScramClient | undefined,
): ScramClient | undefined {
  const code = body.readInt32BE(0);
  if (code === AUTH_OK) return scram;
  if (code === AUTH_CLEARTEXT) socket.write(message("p", cstring(password)));
  else if (code === AUTH_MD5) socket.write(message("p", cstring(md5Password(user, password, body.subarray(4, 8)))));
  else if (code === AUTH_SASL) {
    const started = new ScramClient(password);
    socket.write(started.initialResponse());
    return started;
  } else if (code === AUTH_SASL_CONTINUE && scram) socket.write(scram.finalMessage(body.subarray(4).toString("utf8")));
  else if (code === AUTH_SASL_FINAL && scram) scram.verifyServer(body.subarray(4).toString("utf8"));
  else throw new Error(`unsupported authentication request ${code}`);
  return scram;
}

function md5Password(user: string, password: string, salt: Buffer): string {
  const inner = createHash("md5")
    .update(password + user)
    .digest("hex");
  return `md5${createHash("md5")
    .update(Buffer.concat([Buffer.from(inner), salt]))
    .digest("hex")}`;
}

/** SCRAM-SHA-256 (RFC 7677) as Postgres runs it: no channel binding, the user name left to the startup message. */
class ScramClient {
  private readonly clientNonce = randomBytes(18).toString("base64");
  private readonly clientFirstBare = `n=*,r=${this.clientNonce}`;
  private expectedServerSignature?: Buffer;

  constructor(private readonly password: string) {}

  initialResponse(): Buffer {
    const response = Buffer.from(`n,,${this.clientFirstBare}`);
    return message("p", Buffer.concat([cstring("SCRAM-SHA-256"), int32(response.length), response]));
  }

  finalMessage(serverFirst: string): Buffer {
    const fields = Object.fromEntries(serverFirst.split(",").map((pair) => [pair[0], pair.slice(2)]));
    if (!fields.r?.startsWith(this.clientNonce)) throw new Error("SCRAM: the server's nonce does not extend ours");
    const salted = pbkdf2Sync(this.password, Buffer.from(fields.s, "base64"), Number(fields.i), 32, "sha256");
    const clientKey = hmac(salted, "Client Key");
    const storedKey = createHash("sha256").update(clientKey).digest();
    const withoutProof = `c=biws,r=${fields.r}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const signature = hmac(storedKey, authMessage);
    const proof = Buffer.from(clientKey.map((byte, i) => byte ^ signature[i]));
    this.expectedServerSignature = hmac(hmac(salted, "Server Key"), authMessage);
    return message("p", Buffer.from(`${withoutProof},p=${proof.toString("base64")}`));
  }

  verifyServer(serverFinal: string): void {
    const signature = Buffer.from(serverFinal.replace(/^v=/, ""), "base64");
    const expected = this.expectedServerSignature;
    if (!expected || signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
      throw new Error("SCRAM: the server's signature does not match");
    }
  }
}

const hmac = (key: Buffer, text: string) => createHmac("sha256", key).update(text).digest();

const int16 = (value: number) => {
  const bytes = Buffer.alloc(2);
  bytes.writeInt16BE(value);
  return bytes;
};

/**
 * One statement of the extended query protocol, unnamed and with its parameters in text (the
 * server infers their types, as Neon's HTTP endpoint lets it): Parse, Bind, Describe, Execute.
 * `describe` asks for the RowDescription; statements whose rows nobody reads can skip it.
 */
export function extendedQuery(sql: string, params: ReadonlyArray<string | null>, describe = true): Buffer {
  const values = params.map((value) => {
    if (value === null) return int32(-1);
    const bytes = Buffer.from(value, "utf8");
    return Buffer.concat([int32(bytes.length), bytes]);
  });
  return Buffer.concat([
    message("P", Buffer.concat([cstring(""), cstring(sql), int16(0)])),
    message("B", Buffer.concat([cstring(""), cstring(""), int16(0), int16(params.length), ...values, int16(0)])),
    ...(describe ? [message("D", Buffer.concat([Buffer.from("P"), cstring("")]))] : []),
    message("E", Buffer.concat([cstring(""), int32(0)])),
  ]);
}

export const sync = () => message("S");

/** A column of a RowDescription, named as pg's and Neon's results name them. */
export interface FieldDescription {
  name: string;
  tableID: number;
  columnID: number;
  dataTypeID: number;
  dataTypeSize: number;
  dataTypeModifier: number;
  format: "text" | "binary";
}

/** The columns of a RowDescription ('T') message's body. */
export function rowDescription(body: Buffer): FieldDescription[] {
  const count = body.readInt16BE(0);
  const fields: FieldDescription[] = [];
  let offset = 2;
  for (let i = 0; i < count; i++) {
    const end = body.indexOf(0, offset);
    const name = body.toString("utf8", offset, end);
    offset = end + 1;
    fields.push({
      name,
      tableID: body.readInt32BE(offset),
      columnID: body.readInt16BE(offset + 4),
      dataTypeID: body.readInt32BE(offset + 6),
      dataTypeSize: body.readInt16BE(offset + 10),
      dataTypeModifier: body.readInt32BE(offset + 12),
      format: body.readInt16BE(offset + 16) === 1 ? "binary" : "text",
    });
    offset += 18;
  }
  return fields;
}

/** The values of a DataRow ('D') message's body, as text (null for SQL NULL). */
export function dataRow(body: Buffer): Array<string | null> {
  const count = body.readInt16BE(0);
  const values: Array<string | null> = [];
  let offset = 2;
  for (let i = 0; i < count; i++) {
    const length = body.readInt32BE(offset);
    offset += 4;
    if (length < 0) values.push(null);
    else {
      values.push(body.toString("utf8", offset, offset + length));
      offset += length;
    }
  }
  return values;
}

/** The fields of an ErrorResponse ('E') message's body, by their one-letter codes. */
export function errorFields(body: Buffer): Record<string, string> {
  const fields: Record<string, string> = {};
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const end = body.indexOf(0, offset + 1);
    fields[String.fromCharCode(body[offset])] = body.toString("utf8", offset + 1, end);
    offset = end + 1;
  }
  return fields;
}
