// The per-room presence mode thresholds derived from PRESENCE_FULL_MAX_USERS.
import type { PresenceModeLimits } from "../cluster/types.js";

/**
 * Hysteresis: a room switches to occupancy above `fullMaxUsers` and back to full presence only at 90 % of it,
 * so a room hovering around the limit (a few users coming and going) keeps one mode instead of flapping.
 */
export function presenceModeLimits(fullMaxUsers: number): PresenceModeLimits {
  return { fullMaxUsers, fullResumeUsers: Math.floor(fullMaxUsers * 0.9) };
}
