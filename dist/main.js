import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as m}from"./chunks/chunk-OO2YRZ3H.js";import{g as r}from"./chunks/chunk-RZ25VOOP.js";import"./chunks/chunk-IFM3OA34.js";import"./chunks/chunk-UUIWTWLC.js";import"./chunks/chunk-67BG23Y2.js";await m(()=>r());
