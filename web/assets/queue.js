// The visitor's place in line: join (the concert's room, or the site-wide room when the
// concert has none), then follow the place until admitted — from the queue stream when
// the server has one, else by polling once a second.
import { call } from './api.js';

const POLL_MS = 1000;
const NOT_OPEN_RETRY_MS = 2000;

export class Queue {
  /** onTicket(ticket) on every answer; onError(apiError) on a refusal. */
  constructor(concertId, { onTicket, onError }) {
    this.concertId = concertId;
    this.room = concertId; // null once we know the concert has no room of its own
    this.onTicket = onTicket;
    this.onError = onError;
    this.token = null;
    this.timer = null;
    this.stream = null;
  }

  query(extra = '') {
    const room = this.room === null ? '' : `concertId=${this.room}`;
    const parts = [extra, room].filter(Boolean);
    return parts.length ? `?${parts.join('&')}` : '';
  }

  async join(userId) {
    this.stop();
    const user = userId ? `userId=${encodeURIComponent(userId)}` : '';
    let ticket;
    try {
      ticket = await call('GET', `/concert/wating${this.query(user)}`);
    } catch (error) {
      if (error.code === 'ROOM_NOT_FOUND' && this.room !== null) {
        // No room of its own: its sessions take the site-wide room's tokens.
        this.room = null;
        return this.join(userId);
      }
      this.onError(error);
      if (error.code === 'ROOM_NOT_OPEN') {
        this.timer = setTimeout(() => this.join(userId), NOT_OPEN_RETRY_MS);
      }
      return;
    }
    this.accept(ticket);
    if (!ticket.isProcessing) this.follow();
  }

  accept(ticket) {
    this.token = ticket.token;
    this.onTicket(ticket);
    if (ticket.isProcessing) this.stop();
  }

  follow() {
    if (typeof EventSource === 'undefined') return this.poll();
    const url = `/concert/wating/stream${this.query(`token=${encodeURIComponent(this.token)}`)}`;
    const stream = new EventSource(url);
    this.stream = stream;
    stream.addEventListener('queue', (event) => {
      try {
        this.accept(JSON.parse(event.data));
      } catch {
        // An unreadable event: the next one (or the polling) will tell.
      }
    });
    stream.onerror = () => {
      // No stream on this server, or it broke: poll instead, once a second.
      if (this.stream !== stream) return;
      stream.close();
      this.stream = null;
      this.poll();
    };
  }

  poll() {
    clearTimeout(this.timer);
    this.timer = setTimeout(async () => {
      try {
        this.accept(await call('GET', `/concert/wating${this.query()}`, { token: this.token }));
      } catch (error) {
        this.onError(error);
      }
      if (this.timer !== null) this.poll();
    }, POLL_MS);
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    this.stream?.close();
    this.stream = null;
  }
}
