import { randomBytes } from "node:crypto";
import { request } from "node:http";

/** The HTTP status a WebSocket upgrade to /live is answered with (101 when accepted); the socket is then closed. */
export function liveUpgradeStatus(
  port: number,
  bookingId: string,
  token: string,
  headers: Record<string, string> = {},
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port,
      path: `/live?booking=${bookingId}&token=${encodeURIComponent(token)}`,
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": randomBytes(16).toString("base64"),
        ...headers,
      },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}
