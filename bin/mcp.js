#!/usr/bin/env node
// The `mcp` command. Only `mcp backup ...` exists today; the CLI itself lives in dist/cli.
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
