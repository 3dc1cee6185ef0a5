import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as m}from"./chunks/chunk-2KZXEM2J.js";import{g as r}from"./chunks/chunk-VLETJSX6.js";import"./chunks/chunk-4T7IZVND.js";import"./chunks/chunk-KEC6WQEQ.js";import"./chunks/chunk-67BG23Y2.js";await m(()=>r());
