// The one Chromium the browser tests drive: Debian's (scripts/install-chromium.sh), never a download.
import { existsSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';
/** Flags for a quiet, offline headless run (no background traffic that a request check would see). */
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const haveChromium = existsSync(CHROMIUM);
