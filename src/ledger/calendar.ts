/**
 * Business days and dealing dates. Pure: dates are `YYYY-MM-DD` strings and instants ISO 8601 strings
 * given by the caller; nothing here reads a clock.
 */

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 86_400_000;

/** A business-day calendar: Monday to Friday, less its holidays. */
export interface BusinessCalendar {
  readonly id: string;
  readonly holidays: ReadonlySet<string>;
}

export function businessCalendar(id: string, holidays: readonly string[]): BusinessCalendar {
  for (const day of holidays) if (!isCalendarDate(day)) throw new RangeError(`calendar ${id}: ${day} is not a date (YYYY-MM-DD)`);
  return Object.freeze({ id, holidays: new Set(holidays) });
}

/** England and Wales bank holidays of 2026 and 2027 (the ledger's default calendar). */
export const UK_CALENDAR = businessCalendar('UK', [
  '2026-01-01', '2026-04-03', '2026-04-06', '2026-05-04', '2026-05-25', '2026-08-31', '2026-12-25', '2026-12-28',
  '2027-01-01', '2027-03-26', '2027-03-29', '2027-05-03', '2027-05-31', '2027-08-30', '2027-12-27', '2027-12-28',
]);

/** A date `YYYY-MM-DD` that exists, from 0001-01-01 (Postgres has no year 0). */
export function isCalendarDate(text: string): boolean {
  const match = DATE.exec(text);
  if (match === null || match[1] === '0000') return false;
  const date = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === text;
}

function dayNumber(date: string): number {
  if (!isCalendarDate(date)) throw new RangeError(`${date} is not a date (YYYY-MM-DD)`);
  return Date.parse(`${date}T00:00:00Z`) / DAY_MS;
}

function dateOf(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

export function isBusinessDay(calendar: BusinessCalendar, date: string): boolean {
  const weekday = new Date(dayNumber(date) * DAY_MS).getUTCDay();
  return weekday !== 0 && weekday !== 6 && !calendar.holidays.has(date);
}

/** The first business day strictly after `date`. */
export function nextBusinessDay(calendar: BusinessCalendar, date: string): string {
  let day = dayNumber(date) + 1;
  while (!isBusinessDay(calendar, dateOf(day))) day += 1;
  return dateOf(day);
}

/** `date` moved forward by `days` business days (T+N); `date` itself need not be one. */
export function addBusinessDays(calendar: BusinessCalendar, date: string, days: number): string {
  if (!Number.isInteger(days) || days < 0) throw new RangeError('addBusinessDays: days must be a whole number ≥ 0');
  let current = date;
  for (let i = 0; i < days; i += 1) current = nextBusinessDay(calendar, current);
  return current;
}

/** A time of day `HH:MM`, UTC. */
export const TIME_OF_DAY = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;

/**
 * Forward pricing: the business day whose cycle an order placed at `instant` deals in. On a business
 * day before the cut-off (strictly: an order at the cut-off minute belongs to the next cycle), that
 * day; otherwise the next business day. Cut-offs are UTC times of day.
 */
export function dealingDateAt(calendar: BusinessCalendar, cutoff: string, instant: string): string {
  if (!TIME_OF_DAY.test(cutoff)) throw new RangeError(`cut-off ${cutoff} is not HH:MM`);
  const at = new Date(instant);
  if (Number.isNaN(at.getTime())) throw new RangeError(`${instant} is not an instant`);
  const iso = at.toISOString();
  const date = iso.slice(0, 10);
  const time = iso.slice(11, 16);
  return isBusinessDay(calendar, date) && time < cutoff ? date : nextBusinessDay(calendar, date);
}

/** The instant of a dealing day's cut-off. */
export function cutoffInstant(date: string, cutoff: string): string {
  return `${date}T${cutoff}:00.000Z`;
}
