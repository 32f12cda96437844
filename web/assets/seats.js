// Live seats of one session: the seat stream when the server has one (`event: seats` with
// the whole list, then `event: seat` per change), else the seat list polled once a second.
import { call } from './api.js';

const POLL_MS = 1000;

export class SeatWatch {
  /** onSeats(seatList) with the whole list; onSeat(seat) for one change; onError(e). */
  constructor(sessionId, { onSeats, onSeat, onError }) {
    this.sessionId = sessionId;
    this.handlers = { onSeats, onSeat, onError };
    this.timer = null;
    this.stream = null;
    this.stopped = false;
  }

  start() {
    if (typeof EventSource === 'undefined') return this.poll(0);
    const stream = new EventSource(`/concert/seat/${this.sessionId}/stream`);
    this.stream = stream;
    stream.addEventListener('seats', (event) => {
      const data = JSON.parse(event.data);
      this.handlers.onSeats(Array.isArray(data) ? data : data.seatList);
    });
    stream.addEventListener('seat', (event) => this.handlers.onSeat(JSON.parse(event.data)));
    stream.onerror = () => {
      if (this.stream !== stream) return;
      stream.close();
      this.stream = null;
      this.poll(0);
    };
    // The stream's first event may be late or never come: have a list at once.
    this.refresh();
  }

  async refresh() {
    try {
      const answer = await call('GET', `/concert/seat/${this.sessionId}`);
      if (!this.stopped) this.handlers.onSeats(answer.seatList);
    } catch (error) {
      this.handlers.onError(error);
    }
  }

  poll(delay = POLL_MS) {
    if (this.stopped) return;
    this.timer = setTimeout(async () => {
      // A fixed period, not a pause after each answer: a change is seen within a second
      // plus one request, however slow the answers get.
      const started = Date.now();
      await this.refresh();
      this.poll(Math.max(0, POLL_MS - (Date.now() - started)));
    }, delay);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stream?.close();
    this.stream = null;
  }
}
