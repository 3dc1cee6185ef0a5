import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as m}from"./chunks/chunk-QJ7U462U.js";import{f as r}from"./chunks/chunk-6CVWOAPZ.js";import"./chunks/chunk-LDFYJQHK.js";import"./chunks/chunk-67BG23Y2.js";await m(()=>r());
