import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as m}from"./chunks/chunk-GNGNMHT2.js";import{g as r}from"./chunks/chunk-W3Z6AIGT.js";import"./chunks/chunk-ZEG2RX6R.js";import"./chunks/chunk-6PBRICDF.js";import"./chunks/chunk-72O3HK4F.js";import"./chunks/chunk-67BG23Y2.js";await m(()=>r());
