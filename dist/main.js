import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as m}from"./chunks/chunk-AYWFPJ5K.js";import{g as r}from"./chunks/chunk-B55OHQOJ.js";import"./chunks/chunk-NG6ZXUJK.js";import"./chunks/chunk-MXWE2YWB.js";import"./chunks/chunk-67BG23Y2.js";await m(()=>r());
