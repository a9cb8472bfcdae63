#!/usr/bin/env node
// Prints the README's configuration table from the built config module (run `npm run build` first).
import { settingsMarkdown } from "../dist/config.js";
console.log(settingsMarkdown());
