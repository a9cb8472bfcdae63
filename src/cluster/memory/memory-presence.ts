// Embedded-mode presence: one process is the whole cluster, so plain maps are authoritative.
import type { PresenceStore, PresenceUser } from "../types.js";

interface UserState {
  sockets: Set<string>;
  online: boolean;
}

export class MemoryPresence implements PresenceStore {
  private readonly rooms = new Map<string, Map<string, UserState>>();

  async join(room: string, userId: string, socketKey: string): Promise<boolean> {
    let users = this.rooms.get(room);
    if (!users) this.rooms.set(room, (users = new Map()));
    let state = users.get(userId);
    if (!state) users.set(userId, (state = { sockets: new Set(), online: false }));
    state.sockets.add(socketKey);
    if (state.online) return false;
    state.online = true;
    return true;
  }

  async leave(room: string, userId: string, socketKey: string): Promise<boolean> {
    const state = this.rooms.get(room)?.get(userId);
    if (!state) return false;
    state.sockets.delete(socketKey);
    return state.sockets.size === 0;
  }

  async settleOffline(room: string, userId: string): Promise<boolean> {
    const users = this.rooms.get(room);
    const state = users?.get(userId);
    if (!users || !state || state.sockets.size > 0 || !state.online) return false;
    users.delete(userId);
    if (users.size === 0) this.rooms.delete(room);
    return true;
  }

  async list(room: string): Promise<PresenceUser[]> {
    const users = this.rooms.get(room);
    if (!users) return [];
    return [...users].filter(([, s]) => s.online).map(([userId, s]) => ({ userId, devices: s.sockets.size }));
  }

  /** Nothing to expire: a crashed embedded gateway takes its whole state with it. */
  async heartbeat(): Promise<Array<{ room: string; userId: string }>> {
    return [];
  }

  async close(): Promise<void> {
    this.rooms.clear();
  }
}
