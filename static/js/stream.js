// The websocket training stream. With api.js, the only modules that talk to the server.

export class TrainingStream {
  // handlers: { message(msg), open(), lost(reason) }
  constructor(handlers) {
    this.handlers = handlers;
    this.ws = null;
    this.queue = [];
    this.closing = false;
  }

  get connected() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  connect() {
    if (this.ws && (this.ws.readyState === WebSocket.OPEN ||
                    this.ws.readyState === WebSocket.CONNECTING)) return;
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${window.location.host}/ws/train`);
    this.ws = ws;
    this.closing = false;
    ws.addEventListener("open", () => {
      for (const msg of this.queue.splice(0)) ws.send(JSON.stringify(msg));
      if (this.handlers.open) this.handlers.open();
    });
    ws.addEventListener("message", (event) => {
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      this.handlers.message(msg);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!this.closing && this.handlers.lost) {
        this.handlers.lost(event.reason || `connection closed (code ${event.code})`);
      }
    });
  }

  send(msg) {
    if (this.connected) {
      this.ws.send(JSON.stringify(msg));
    } else {
      this.queue.push(msg);
      this.connect();
    }
  }

  close() {
    this.closing = true;
    if (this.ws) this.ws.close();
    this.ws = null;
  }
}
