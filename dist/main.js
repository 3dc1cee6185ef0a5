import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as m}from"./chunks/chunk-AW7G22D5.js";import{g as r}from"./chunks/chunk-MXVPTUXZ.js";import"./chunks/chunk-DTEV23RG.js";import"./chunks/chunk-RTVORNZZ.js";import"./chunks/chunk-67BG23Y2.js";await m(()=>r());
