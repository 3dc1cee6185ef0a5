import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as o,c as t,d as m}from"./chunks/chunk-CXNS47FS.js";import"./chunks/chunk-ROKGIRC3.js";import{k as r}from"./chunks/chunk-OGOA5L3R.js";import"./chunks/chunk-QJIL2DAA.js";import"./chunks/chunk-67BG23Y2.js";var i=o(process.env);r(i);await m(i,()=>t());
