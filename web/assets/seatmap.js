// The seat map: one button per seat in a grid, usable with 1,000 seats. Only one seat is
// in the tab order (a roving tabindex): Tab enters and leaves the map, the arrow keys,
// Home and End move within it, Enter or Space holds. Each button says its number and
// state to a screen reader; colour is never the only sign (taken seats are struck out).
import { h } from './ui.js';

export class SeatMap {
  /** onPick(seatNumber) is called when a free seat is chosen. */
  constructor(onPick) {
    this.onPick = onPick;
    this.buttons = new Map();
    this.focusSeat = 1;
    this.element = h('div', {
      class: 'seatmap',
      role: 'group',
      'aria-label': 'Seats · 좌석 (arrow keys move, Enter holds)',
      onkeydown: (event) => this.key(event),
    });
  }

  /** seats: [{seatNumber, isReservation}], mine: Set of seat numbers held by this visitor. */
  render(seats, mine) {
    if (this.buttons.size !== seats.length) {
      this.buttons.clear();
      this.element.replaceChildren();
      for (const seat of seats) {
        const button = h('button', {
          type: 'button',
          class: 'seat',
          tabindex: seat.seatNumber === this.focusSeat ? '0' : '-1',
          'data-seat': seat.seatNumber,
          onclick: () => this.pick(seat.seatNumber),
        }, String(seat.seatNumber));
        this.buttons.set(seat.seatNumber, button);
        this.element.append(button);
      }
    }
    for (const seat of seats) {
      const button = this.buttons.get(seat.seatNumber);
      const state = mine.has(seat.seatNumber) ? 'mine' : seat.isReservation ? 'taken' : 'free';
      if (button.dataset.state === state) continue;
      button.dataset.state = state;
      const words = { free: 'free · 예매 가능', taken: 'taken · 예매됨', mine: 'held by you · 내 좌석' };
      button.setAttribute('aria-label', `Seat ${seat.seatNumber}, ${words[state]}`);
      button.setAttribute('aria-disabled', state === 'free' ? 'false' : 'true');
    }
  }

  /** Marks one seat's state (from the seat stream) without a full list. */
  mark(seatNumber, taken, mine) {
    const seats = [...this.buttons.keys()].map((n) => ({
      seatNumber: n,
      isReservation: n === seatNumber ? taken : this.buttons.get(n).dataset.state !== 'free',
    }));
    this.render(seats, mine);
  }

  pick(seatNumber) {
    this.moveFocus(seatNumber, false);
    const button = this.buttons.get(seatNumber);
    if (button?.dataset.state === 'free') this.onPick(seatNumber);
  }

  moveFocus(seatNumber, focus = true) {
    const target = this.buttons.get(seatNumber);
    if (!target) return;
    this.buttons.get(this.focusSeat)?.setAttribute('tabindex', '-1');
    target.setAttribute('tabindex', '0');
    this.focusSeat = seatNumber;
    if (focus) target.focus();
  }

  /** Seats per row as laid out now (the grid wraps with the screen's width). */
  columns() {
    const first = this.buttons.get(1);
    if (!first) return 1;
    let count = 0;
    for (const button of this.buttons.values()) {
      if (button.offsetTop !== first.offsetTop) break;
      count += 1;
    }
    return Math.max(1, count);
  }

  key(event) {
    const last = this.buttons.size;
    const moves = {
      ArrowRight: 1,
      ArrowLeft: -1,
      ArrowDown: this.columns(),
      ArrowUp: -this.columns(),
    };
    let next = null;
    if (event.key in moves) next = this.focusSeat + moves[event.key];
    else if (event.key === 'Home') next = 1;
    else if (event.key === 'End') next = last;
    if (next === null) return;
    event.preventDefault();
    this.moveFocus(Math.min(last, Math.max(1, next)));
  }
}
