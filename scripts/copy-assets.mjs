#!/usr/bin/env node
// Copies the non-TypeScript files the gateway reads at run time into dist/ (part of `npm run build`),
// so an image that ships only dist/ still serves them.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";

const ASSETS = [["src/demo/demo.html", "dist/demo/demo.html"]];
for (const [from, to] of ASSETS) {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
}
