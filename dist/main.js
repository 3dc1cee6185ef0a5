import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as m}from"./chunks/chunk-4D7H37WZ.js";import{g as r}from"./chunks/chunk-RZ25VOOP.js";import"./chunks/chunk-IFM3OA34.js";import"./chunks/chunk-UUIWTWLC.js";import"./chunks/chunk-67BG23Y2.js";await m(()=>r());
