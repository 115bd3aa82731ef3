import { formatMs } from '../../duration.ts';
import type { MeasurementDelta, Reading } from './compare-measurements.ts';

/** A measured value with its unit: "1.12 s", "37.5%", "412.3 MiB/s". */
export function formatValue(unit: Reading['unit'], value: number): string {
  if (unit === 'ms') return formatMs(value);
  if (unit === 'share') return `${(value * 100).toFixed(1)}%`;
  return `${value.toFixed(1)} MiB/s`;
}

/** The change of a measurement, signed: "+430 ms", "-2.5 points", "-48%". */
export function formatChange(m: MeasurementDelta): string {
  const d = m.new - m.base;
  const sign = d > 0 ? '+' : d < 0 ? '-' : '±';
  if (m.unit === 'ms') return `${sign}${formatMs(Math.abs(d))}`;
  if (m.unit === 'share') return `${sign}${(Math.abs(d) * 100).toFixed(1)} points`;
  return m.base === 0 ? `${sign}${Math.abs(d).toFixed(1)} MiB/s` : `${sign}${Math.round((Math.abs(d) / m.base) * 100)}%`;
}

/** The values that are no change: "0.61 s .. 1.61 s" (never below zero). */
export function formatRange(m: MeasurementDelta): string {
  return `${formatValue(m.unit, Math.max(0, m.min))} .. ${formatValue(m.unit, m.max)}`;
}
