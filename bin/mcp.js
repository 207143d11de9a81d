#!/usr/bin/env node
// The `mcp` command. Only `mcp backup ...` exists today. The CLI is bundled into one file (dist/mcp.mjs) because
// loading it as ~100 separate modules tripled the start-up time, and `list` must answer in well under 300 ms.
import { main } from '../dist/mcp.mjs';

process.exitCode = await main(process.argv.slice(2));
